--
-- Policies: set, protect, remove; every bad input is an error that
-- changes nothing.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;
RESET client_min_messages;

-- the policy table is dumped by pg_dump (extension configuration table)
SELECT c.relname, e.extconfig IS NOT NULL AS has_config
FROM pg_extension e, unnest(e.extconfig) AS cfg(oid)
JOIN pg_class c ON c.oid = cfg.oid
WHERE e.extname = 'pgscale'
ORDER BY c.relname;

CREATE TABLE metrics_aiusagedaily (
    id bigserial PRIMARY KEY,
    member_id int NOT NULL,
    date date NOT NULL,
    note text,
    seen_at timestamp,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE metrics_weeklymetrics (id bigserial PRIMARY KEY, week_start date NOT NULL);
CREATE TABLE metrics_pullrequest (id bigserial PRIMARY KEY, created_at timestamptz);

SELECT pgscale_set_retention('metrics_aiusagedaily', '365 days', 'date');
SELECT pgscale_set_retention('metrics_weeklymetrics', '730 days', 'week_start');
SELECT pgscale_protect('metrics_pullrequest');

SELECT table_name, time_column, retention, protected, enabled
FROM pgscale_policy ORDER BY table_name::text;

-- changing a retention updates the row in place
SELECT pgscale_set_retention('metrics_aiusagedaily', '400 days', 'created_at');
SELECT table_name, time_column, retention FROM pgscale_policy
WHERE table_name = 'metrics_aiusagedaily'::regclass;
SELECT pgscale_set_retention('metrics_aiusagedaily', '365 days', 'date');

-- timestamp and timestamptz columns are accepted too
CREATE TABLE t_ts (at timestamp NOT NULL);
CREATE TABLE t_tstz (at timestamptz NOT NULL);
SELECT pgscale_set_retention('t_ts', '1 day', 'at');
SELECT pgscale_set_retention('t_tstz', '36 hours', 'at');
-- and so is a domain over a date
CREATE DOMAIN day_d AS date;
CREATE TABLE t_dom (d day_d);
SELECT pgscale_set_retention('t_dom', '2 months', 'd');

-- a range-partitioned table needs no column: the partition key is used
CREATE TABLE parted (d date NOT NULL, v int) PARTITION BY RANGE (d);
SELECT pgscale_set_retention('parted', '90 days');
SELECT time_column FROM pgscale_policy WHERE table_name = 'parted'::regclass;

-- snapshot of the policies: every error below must leave it unchanged
CREATE TEMP TABLE before AS SELECT * FROM pgscale_policy;

\set VERBOSITY default
-- unknown table (the regclass input itself), unknown column, wrong type
SELECT pgscale_set_retention('no_such_table', '1 day', 'd');
SELECT pgscale_set_retention('metrics_aiusagedaily', '1 day', 'no_such_column');
SELECT pgscale_set_retention('metrics_aiusagedaily', '1 day', 'member_id');
SELECT pgscale_set_retention('metrics_aiusagedaily', '1 day', 'note');
-- no column on a plain table (without a policy: a policy's column is kept
-- when it is changed), nor on a table partitioned otherwise
CREATE TABLE no_policy (d date);
SELECT pgscale_set_retention('no_policy', '1 day');
CREATE TABLE by_list (k int, d date) PARTITION BY LIST (k);
SELECT pgscale_set_retention('by_list', '1 day');
CREATE TABLE by_int (k int) PARTITION BY RANGE (k);
SELECT pgscale_set_retention('by_int', '1 day');
-- zero, negative, mixed-to-negative and absurd retentions
SELECT pgscale_set_retention('metrics_aiusagedaily', '0 days', 'date');
SELECT pgscale_set_retention('metrics_aiusagedaily', '-1 day', 'date');
SELECT pgscale_set_retention('metrics_aiusagedaily', '1 day -48 hours', 'date');
-- a mixed-sign retention whose cutoff lies in the future for some month
-- lengths (after a 31-day month '-1 month 30 days 1 hour' is 23 hours ahead)
SELECT pgscale_set_retention('metrics_aiusagedaily', '-1 month 30 days 1 hour', 'date');
SELECT pgscale_set_retention('metrics_aiusagedaily', '1 month -1 day', 'date');
SELECT pgscale_set_retention('metrics_aiusagedaily', '2 days -1 hour', 'date');
SELECT pgscale_set_retention('metrics_aiusagedaily', '100000 years', 'date');
-- compress_after (src/compress.c): not positive, as long as the
-- retention, and without citus_columnar (not installed in this database)
SELECT pgscale_set_retention('parted', '90 days', compress_after => '-1 day');
SELECT pgscale_set_retention('parted', '90 days', compress_after => '90 days');
SELECT pgscale_set_retention('parted', '90 days', compress_after => '1 month');
-- NULL for a required argument
SELECT pgscale_set_retention(NULL, '1 day', 'date');
SELECT pgscale_set_retention('metrics_aiusagedaily', NULL, 'date');
SELECT pgscale_protect(NULL);
SELECT pgscale_remove_policy(NULL);
-- a protected table cannot get a retention
SELECT pgscale_set_retention('metrics_pullrequest', '30 days', 'created_at');
-- not a table: a view, a sequence, an index
CREATE VIEW v_metrics AS SELECT * FROM metrics_aiusagedaily;
SELECT pgscale_set_retention('v_metrics', '1 day', 'date');
SELECT pgscale_set_retention('metrics_aiusagedaily_id_seq', '1 day', 'date');
-- a partition: the policy belongs on its parent
CREATE TABLE parted_2020 PARTITION OF parted FOR VALUES FROM ('2020-01-01') TO ('2020-02-01');
SELECT pgscale_set_retention('parted_2020', '1 day', 'd');
-- system catalogs and pgscale's own tables are off limits
SELECT pgscale_set_retention('pg_catalog.pg_class', '1 day', 'relname');
SELECT pgscale_set_retention('pgscale.pgscale_log', '1 day', 'logged_at');
SELECT pgscale_protect('pgscale.pgscale_policy');
-- temporary tables are not maintained
CREATE TEMP TABLE tmp_t (d date);
SELECT pgscale_set_retention('tmp_t', '1 day', 'd');
\set VERBOSITY terse

SELECT count(*) AS unchanged_rows,
       (SELECT count(*) FROM pgscale_policy) = (SELECT count(*) FROM before) AS same_count
FROM pgscale_policy p JOIN before b USING (table_name)
WHERE p IS NOT DISTINCT FROM b;

-- compress_after => '0' needs no columnar: it records that nothing is
-- compressed
SELECT pgscale_set_retention('parted', '90 days', compress_after => '0');
SELECT compress_after IS NULL AS never_compressed FROM pgscale_policy
WHERE table_name = 'parted'::regclass;

-- protecting a table with a retention drops the retention, with a notice
SELECT pgscale_protect('t_ts');
SELECT protected, retention IS NULL AS no_retention FROM pgscale_policy
WHERE table_name = 't_ts'::regclass;

-- remove: true once, then false with a notice
SELECT pgscale_remove_policy('t_ts');
SELECT pgscale_remove_policy('t_ts');

-- dropping a table forgets its policy (no stale OID is left behind)
SELECT count(*) FROM pgscale_policy WHERE table_name = 't_tstz'::regclass;
DROP TABLE t_tstz;
SELECT count(*) AS stale_policies FROM pgscale_policy p
WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p.table_name);
CREATE SCHEMA doomed;
CREATE TABLE doomed.t (d date);
SELECT pgscale_set_retention('doomed.t', '1 day', 'd');
DROP SCHEMA doomed CASCADE;
SELECT count(*) AS stale_policies FROM pgscale_policy p
WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p.table_name);

-- every function pins its search_path (the procedure qualifies every name)
SELECT count(*) FILTER (WHERE p.proconfig IS NULL
                        OR NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig)) AS unpinned,
       count(*) >= 5 AS several
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgscale'
WHERE p.prokind = 'f';

-- the extension drops and comes back cleanly
DROP EXTENSION pgscale;
CREATE EXTENSION pgscale;
SELECT count(*) AS policies_after_recreate FROM pgscale_policy;
