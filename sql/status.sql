--
-- pgscale_policy_status(): per policy, the oldest row against the
-- retention (from the partition bounds, an index or a sample), compliance,
-- the runs from pgscale_log, premade months, default rows, gaps; and the
-- checks pgscale_health() makes of it.  Every fixture belongs to one role,
-- which sees only its own policies (row security), so what other tests
-- leave behind does not show.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;
CREATE SCHEMA st;
CREATE ROLE regress_status_owner;
CREATE ROLE regress_status_monitor IN ROLE pg_monitor;
CREATE ROLE regress_status_stranger;
GRANT CREATE, USAGE ON SCHEMA st TO regress_status_owner;
SET ROLE regress_status_owner;
SET search_path = st, public;

-- a plain table with an index on its time column: 10 rows past 30 days
CREATE TABLE st_idx (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
CREATE INDEX ON st_idx (ts);
INSERT INTO st_idx (ts) SELECT now() - g * interval '1 day' FROM generate_series(1, 40) g;
SELECT pgscale_set_retention('st_idx', interval '30 days', 'ts');
-- a plain table without one, nothing expired
CREATE TABLE st_noidx (id bigserial PRIMARY KEY, d date NOT NULL);
INSERT INTO st_noidx (d) SELECT current_date - g FROM generate_series(1, 20) g;
SELECT pgscale_set_retention('st_noidx', interval '30 days', 'd');
-- an empty one
CREATE TABLE st_empty (ts timestamp NOT NULL);
SELECT pgscale_set_retention('st_empty', interval '30 days', 'ts');
-- a partitioned table: an old month with a row, this month and the next,
-- the one after missing (a gap), the fourth, and rows in the default
CREATE TABLE st_part (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
CREATE TABLE st_part_2000_01 PARTITION OF st_part
    FOR VALUES FROM ('2000-01-01 00:00+00') TO ('2000-02-01 00:00+00');
INSERT INTO st_part VALUES ('2000-01-15 12:00+00', 1);
SELECT pgscale_set_partitioning('st_part', 3);
SELECT count(*) AS created FROM pgscale_create_month_partitions('st_part', 3);
INSERT INTO st_part VALUES (date_trunc('month', now()) + interval '2 months 10 days', 2);
DO $$
DECLARE
    part regclass := (SELECT tableoid::regclass FROM st.st_part WHERE v = 2);
BEGIN
    EXECUTE format('DROP TABLE %s', part);
END
$$;
CREATE TABLE st_part_default PARTITION OF st_part DEFAULT;
INSERT INTO st_part VALUES (date_trunc('month', now()) + interval '2 months 10 days', 3),
                           (date_trunc('month', now()) + interval '2 months 11 days', 4);
SELECT pgscale_set_retention('st_part', interval '30 days', 'ts');
-- a table whose owner's trigger refuses every delete: its cleanup fails
CREATE TABLE st_fail (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO st_fail (ts) SELECT now() - g * interval '1 day' FROM generate_series(1, 40) g;
CREATE FUNCTION st_refuse() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'st_fail keeps its rows'; END$$;
CREATE TRIGGER refuse BEFORE DELETE ON st_fail FOR EACH ROW EXECUTE FUNCTION st_refuse();
SELECT pgscale_set_retention('st_fail', interval '30 days', 'ts');

-- the columns, in order
SELECT pg_get_function_result('pgscale_policy_status()'::regprocedure);

-- the oldest row, where it comes from, compliance
SELECT table_name, retention, time_column, oldest_row_source, compliant,
       oldest_row IS NOT NULL AS has_oldest,
       oldest_row_age > interval '30 days' AS older_than_retention
FROM pgscale_policy_status() ORDER BY table_name::text;
SELECT oldest_row = (SELECT min(ts) FROM st_idx) AS idx_exact,
       oldest_row_age >= interval '40 days' AS idx_age
FROM pgscale_policy_status() WHERE table_name = 'st_idx'::regclass;
SELECT oldest_row = (SELECT min(d)::timestamptz FROM st_noidx) AS noidx_exact
FROM pgscale_policy_status() WHERE table_name = 'st_noidx'::regclass;
SELECT oldest_row = '2000-01-01 00:00+00' AS part_from_bounds
FROM pgscale_policy_status() WHERE table_name = 'st_part'::regclass;

-- the partitions: months ahead (this month's next only: the one after is
-- missing), the default partition's rows, the gaps (2000-02 to this month,
-- and the missing month)
SELECT table_name, months_ahead, default_rows, partition_gaps
FROM pgscale_policy_status() ORDER BY table_name::text;

-- never run: no run, no success, no error; no worker runs for this database
SELECT table_name, last_run IS NULL AS never_run, last_success IS NULL AS never_ok,
       last_error IS NULL AS no_error, consecutive_failures, rows_removed_30d,
       partitions_removed_30d, next_run IS NULL AS no_worker
FROM pgscale_policy_status() ORDER BY table_name::text;

-- three failing runs of st_fail are three failures in a row (their
-- warnings are not shown)
SET client_min_messages = error;
SELECT sum(rows_deleted) AS deleted FROM pgscale_cleanup(relation => 'st_fail');
SELECT sum(rows_deleted) AS deleted FROM pgscale_cleanup(relation => 'st_fail');
SELECT consecutive_failures, last_error ~ 'st_fail keeps its rows' AS says_why,
       last_run IS NOT NULL AS ran, last_success IS NULL AS never_ok, compliant
FROM pgscale_policy_status() WHERE table_name = 'st_fail'::regclass;
SELECT check_name, status, value FROM pgscale_health()
WHERE check_name = 'failing maintenance';
SELECT sum(rows_deleted) AS deleted FROM pgscale_cleanup(relation => 'st_fail');
SELECT consecutive_failures FROM pgscale_policy_status() WHERE table_name = 'st_fail'::regclass;
SET client_min_messages = warning;

-- the health checks made of it
SELECT check_name, status, value FROM pgscale_health()
WHERE check_name IN ('retention compliance', 'failing maintenance', 'premade months',
                     'rows in default partitions', 'partition gaps')
ORDER BY check_name;
SELECT count(*) AS advice_missing FROM pgscale_health()
WHERE check_name IN ('retention compliance', 'failing maintenance', 'premade months',
                     'rows in default partitions')
  AND status <> 'ok' AND advice IS NULL;

-- the trigger fixed, a run succeeds: no failure in a row, compliant, rows
-- removed; the last error stays readable
DROP TRIGGER refuse ON st_fail;
SELECT sum(rows_deleted) AS deleted FROM pgscale_cleanup(relation => 'st_fail');
SELECT sum(rows_deleted) AS deleted FROM pgscale_cleanup(relation => 'st_idx');
SELECT table_name, consecutive_failures, compliant, rows_removed_30d,
       last_success IS NOT NULL AS ok_once, last_error IS NOT NULL AS error_kept,
       last_success >= last_error_at AS success_after_error
FROM pgscale_policy_status()
WHERE table_name IN ('st_fail'::regclass, 'st_idx'::regclass) ORDER BY table_name::text;
-- an old partition dropped counts in partitions_removed_30d
SELECT sum(partitions_dropped) AS dropped FROM pgscale_cleanup(relation => 'st_part');
SELECT partitions_removed_30d, compliant, oldest_row_source
FROM pgscale_policy_status() WHERE table_name = 'st_part'::regclass;
-- premade again: the gap closed, the months ahead as configured
SELECT count(*) AS created FROM pgscale_create_month_partitions('st_part', 3);
SELECT months_ahead, partition_gaps FROM pgscale_policy_status()
WHERE table_name = 'st_part'::regclass;
SELECT check_name, status FROM pgscale_health()
WHERE check_name IN ('retention compliance', 'failing maintenance', 'premade months')
ORDER BY check_name;

-- the oldest row read through the time index without a query: what
-- "ORDER BY ts LIMIT 1" finds, whatever the index's direction and where it
-- puts NULLs, on a date column too; a table whose owner is under FORCE ROW
-- LEVEL SECURITY is read by the query, through the owner's policies
CREATE TABLE st_desc (ts timestamptz);
CREATE INDEX ON st_desc (ts DESC NULLS LAST);
INSERT INTO st_desc SELECT now() - g * interval '1 day' FROM generate_series(1, 20) g;
INSERT INTO st_desc VALUES (NULL), (NULL);
SELECT pgscale_set_retention('st_desc', interval '30 days', 'ts');
CREATE TABLE st_nulls (ts timestamp);
CREATE INDEX ON st_nulls (ts NULLS FIRST);
INSERT INTO st_nulls VALUES (NULL), ('2001-02-03 04:05:06'), (NULL), ('2001-02-04');
SELECT pgscale_set_retention('st_nulls', interval '30 days', 'ts');
CREATE TABLE st_date (d date NOT NULL);
CREATE INDEX ON st_date (d);
INSERT INTO st_date SELECT current_date - g FROM generate_series(1, 50) g;
SELECT pgscale_set_retention('st_date', interval '30 days', 'd');
CREATE TABLE st_rls (ts timestamptz NOT NULL);
CREATE INDEX ON st_rls (ts);
INSERT INTO st_rls SELECT now() - g * interval '1 day' FROM generate_series(1, 40) g;
ALTER TABLE st_rls ENABLE ROW LEVEL SECURITY;
ALTER TABLE st_rls FORCE ROW LEVEL SECURITY;
CREATE POLICY recent ON st_rls USING (ts > now() - interval '20 days');
SELECT pgscale_set_retention('st_rls', interval '30 days', 'ts');
SELECT s.table_name, s.oldest_row_source, s.compliant,
       s.oldest_row IS NOT DISTINCT FROM
         CASE s.table_name
           WHEN 'st_desc'::regclass THEN (SELECT min(ts) FROM st_desc)
           WHEN 'st_nulls'::regclass THEN (SELECT min(ts)::timestamptz FROM st_nulls)
           WHEN 'st_date'::regclass THEN (SELECT min(d)::timestamptz FROM st_date)
           WHEN 'st_rls'::regclass THEN (SELECT min(ts) FROM st_rls)
         END AS exact
FROM pgscale_policy_status() s
WHERE s.table_name IN ('st_desc'::regclass, 'st_nulls'::regclass, 'st_date'::regclass,
                       'st_rls'::regclass)
ORDER BY s.table_name::text;
SELECT oldest_row_age < interval '21 days' AS rls_owner_sees_recent_only
FROM pgscale_policy_status() WHERE table_name = 'st_rls'::regclass;
-- compliance is decided at now() - retention - a day: a date 32 days
-- back is late, one 30 days back is not
TRUNCATE st_date;
INSERT INTO st_date VALUES (current_date - 30);
SELECT compliant AS within_tolerance FROM pgscale_policy_status()
WHERE table_name = 'st_date'::regclass;
INSERT INTO st_date VALUES (current_date - 32);
SELECT compliant AS past_tolerance FROM pgscale_policy_status()
WHERE table_name = 'st_date'::regclass;
RESET ROLE;

-- who sees what: the owner its policies, pg_monitor all, a stranger none
SET ROLE regress_status_monitor;
SELECT count(*) >= 5 AS monitor_sees_all FROM pgscale_policy_status()
WHERE table_name::text LIKE 'st.%';
SET ROLE regress_status_stranger;
SELECT count(*) AS stranger_sees FROM pgscale_policy_status();
RESET ROLE;

RESET search_path;
DROP SCHEMA st CASCADE;
DROP ROLE regress_status_owner, regress_status_monitor, regress_status_stranger;
