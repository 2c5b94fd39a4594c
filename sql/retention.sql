--
-- Cleanup: exact on plain and partitioned tables for each column type,
-- dry run equal to the real run, batches, days, protected tables, the
-- procedure and the log.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;

CREATE SCHEMA ret;
SET search_path = ret, public;
-- the log read below is this file's own, whatever ran before it
TRUNCATE pgscale.pgscale_log;

-- Rows every hour (timestamps) or every day (dates) back over 800 days,
-- inserted in one statement so that their offsets from now are whole hours.
CREATE FUNCTION fill(rel regclass, coltype text, n int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO %s (d, v) SELECT %s, g FROM generate_series(0, %s) g',
        rel,
        CASE coltype
            WHEN 'date' THEN 'current_date - (g % 800)'
            WHEN 'timestamp' THEN 'localtimestamp - make_interval(hours => (g * 7) % 19200)'
            ELSE 'now() - make_interval(hours => (g * 7) % 19200)'
        END,
        n - 1);
END $$;

-- Monthly partitions from 24 months back to 2 ahead, plus a default one.
CREATE FUNCTION make_parted(name text, coltype text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m date;
BEGIN
    EXECUTE format('CREATE TABLE %I (id bigserial, d %s NOT NULL, v int) PARTITION BY RANGE (d)',
                   name, coltype);
    FOR i IN -2..23 LOOP
        m := (date_trunc('month', current_date) - make_interval(months => i))::date;
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       name || '_' || to_char(m, 'YYYY_MM'), name,
                       m, (m + interval '1 month')::date);
    END LOOP;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', name || '_default', name);
END $$;

-- Upper bound of a range partition, as text.
CREATE FUNCTION upper_bound(part regclass) RETURNS text
LANGUAGE sql AS $$
    SELECT substring(pg_get_expr(relpartbound, oid) FROM 'TO \(''([^'']*)''\)')
    FROM pg_class WHERE oid = part
$$;

CREATE TABLE results (tbl text, kind text, dry_dropped int, dry_rows bigint,
                      real_dropped int, real_rows bigint,
                      expired_left bigint, newer_lost bigint, newer_added bigint,
                      parts_left_expired bigint);

-- One table through a dry run then the real run, and the checks.
CREATE FUNCTION check_cleanup(rel regclass, kind text, batch int DEFAULT 10000)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    dry record;
    real record;
    r results;
BEGIN
    SELECT * INTO dry FROM pgscale_cleanup(dry_run => true, relation => rel,
                                          batch_size => batch);
    -- rows newer than the cutoff, kept aside to compare afterwards
    EXECUTE format('CREATE TEMP TABLE keep AS SELECT * FROM %s WHERE d >= %L::timestamptz::%s',
                   rel, dry.cutoff, kind);
    SELECT * INTO real FROM pgscale_cleanup(relation => rel, batch_size => batch);
    r.tbl := rel::text;
    r.kind := kind;
    r.dry_dropped := dry.partitions_dropped;
    r.dry_rows := dry.rows_deleted;
    r.real_dropped := real.partitions_dropped;
    r.real_rows := real.rows_deleted;
    EXECUTE format('SELECT count(*) FROM %s WHERE d < %L::timestamptz::%s',
                   rel, real.cutoff, kind) INTO r.expired_left;
    EXECUTE format('SELECT count(*) FROM (SELECT * FROM keep EXCEPT ALL SELECT * FROM %s) x', rel)
        INTO r.newer_lost;
    EXECUTE format('SELECT count(*) FROM (SELECT * FROM %s EXCEPT ALL SELECT * FROM keep) x', rel)
        INTO r.newer_added;
    SELECT count(*) INTO r.parts_left_expired
    FROM pg_inherits i
    WHERE i.inhparent = rel
      AND upper_bound(i.inhrelid) IS NOT NULL
      AND upper_bound(i.inhrelid)::timestamptz <= real.cutoff;
    INSERT INTO results SELECT r.*;
    DROP TABLE keep;
END $$;

-- plain tables, each column type
CREATE TABLE plain_date (id bigserial PRIMARY KEY, d date NOT NULL, v int);
CREATE TABLE plain_ts (id bigserial PRIMARY KEY, d timestamp NOT NULL, v int);
CREATE TABLE plain_tstz (id bigserial PRIMARY KEY, d timestamptz NOT NULL, v int);
SELECT fill('plain_date', 'date', 5000), fill('plain_ts', 'timestamp', 5000),
       fill('plain_tstz', 'timestamptz', 5000);
-- updates leave dead tuples and move rows around the heap
UPDATE plain_date SET v = v + 1 WHERE id % 3 = 0;
SELECT pgscale_set_retention('plain_date', '365 days', 'd'),
       pgscale_set_retention('plain_ts', '365 days', 'd'),
       pgscale_set_retention('plain_tstz', '365 days', 'd');

-- partitioned tables with a default partition, each column type
SELECT make_parted('part_date', 'date'), make_parted('part_ts', 'timestamp'),
       make_parted('part_tstz', 'timestamptz');
SELECT fill('part_date', 'date', 5000), fill('part_ts', 'timestamp', 5000),
       fill('part_tstz', 'timestamptz', 5000);
-- rows older than every partition, and in the future, land in the default
INSERT INTO part_date (d, v) SELECT current_date - 900 - g, g FROM generate_series(1, 50) g;
INSERT INTO part_date (d, v) SELECT current_date + 400 + g, g FROM generate_series(1, 50) g;
INSERT INTO part_tstz (d, v) SELECT now() - interval '900 days' - make_interval(hours => g), g
FROM generate_series(1, 50) g;
SELECT pgscale_set_retention('part_date', '365 days'),
       pgscale_set_retention('part_ts', '365 days'),
       pgscale_set_retention('part_tstz', '365 days');

SELECT check_cleanup('plain_date', 'date'), check_cleanup('plain_ts', 'timestamp'),
       check_cleanup('plain_tstz', 'timestamptz');
SELECT check_cleanup('part_date', 'date'), check_cleanup('part_ts', 'timestamp'),
       check_cleanup('part_tstz', 'timestamptz');

SELECT tbl, kind,
       dry_dropped = real_dropped AS dry_dropped_same,
       dry_rows = real_rows AS dry_rows_same,
       real_rows > 0 AS deleted_some,
       (real_dropped > 0) = (tbl LIKE 'part%') AS dropped_iff_parted,
       expired_left, newer_lost, newer_added, parts_left_expired
FROM results ORDER BY tbl;

-- a second run finds nothing to do
SELECT table_name, partitions_dropped, rows_deleted
FROM pgscale_cleanup() ORDER BY table_name::text;

-- tiny batches are just as exact
TRUNCATE results;
CREATE TABLE small_batches (id bigserial PRIMARY KEY, d date NOT NULL, v int);
SELECT fill('small_batches', 'date', 700);
DELETE FROM small_batches WHERE id % 5 = 0;
SELECT pgscale_set_retention('small_batches', '200 days', 'd');
SELECT check_cleanup('small_batches', 'date', 7);
SELECT dry_rows = real_rows AS same, real_rows, expired_left, newer_lost, newer_added
FROM results;

-- batches stay small after a purge has emptied most pages and new rows
-- fill them again (the table's density no longer says how many rows a
-- block holds)
CREATE TABLE refill (id bigserial PRIMARY KEY, d date NOT NULL, v int);
INSERT INTO refill (d, v) SELECT current_date - 400, g FROM generate_series(1, 60000) g;
INSERT INTO refill (d, v) SELECT current_date, g FROM generate_series(1, 300) g;
SELECT pgscale_set_retention('refill', '365 days', 'd');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'refill');
VACUUM ANALYZE refill;
INSERT INTO refill (d, v) SELECT current_date - 400, g FROM generate_series(1, 30000) g;
SELECT rows_deleted FROM pgscale_cleanup(relation => 'refill', batch_size => 3000);
SELECT (regexp_match(detail, '^(\d+) batches'))[1]::int >= 10 AS small_batches
FROM pgscale_log WHERE relid = 'refill'::regclass AND action = 'delete'
ORDER BY id DESC LIMIT 1;

-- the time-range strategy (Citus distributed tables, foreign tables, 13)
-- is just as exact, with many rows sharing one time value
TRUNCATE results;
SET pgscale.batch_strategy = time_range;
CREATE TABLE by_time (id bigserial PRIMARY KEY, d date NOT NULL, v int);
INSERT INTO by_time (d, v) SELECT current_date - (g % 50), g FROM generate_series(1, 2000) g;
SELECT pgscale_set_retention('by_time', '20 days', 'd');
SELECT check_cleanup('by_time', 'date', 15);
SELECT dry_rows = real_rows AS same, real_rows, expired_left, newer_lost, newer_added
FROM results;
SELECT detail LIKE '%time range strategy%' AS used_time_ranges FROM pgscale_log
WHERE relid = 'by_time'::regclass AND action = 'delete';
RESET pgscale.batch_strategy;

-- "days" overrides every unprotected retention, as cleanup_old_data --days
TRUNCATE results;
CREATE TABLE core_data (id bigserial PRIMARY KEY, d date NOT NULL, v int);
SELECT fill('core_data', 'date', 900);
SELECT pgscale_protect('core_data');
-- (how many rows go depends on the time of day for hourly rows, and rows
-- of dropped partitions are not counted: compare the dry and real runs)
CREATE TEMP TABLE dry180 AS
SELECT table_name, partitions_dropped, rows_deleted
FROM pgscale_cleanup(dry_run => true, days => 180);
CREATE TEMP TABLE real180 AS
SELECT table_name, partitions_dropped, rows_deleted FROM pgscale_cleanup(days => 180);
SELECT d.table_name,
       d.rows_deleted = r.rows_deleted AND d.partitions_dropped = r.partitions_dropped
           AS dry_equals_real,
       r.rows_deleted + r.partitions_dropped > 0 AS did_something
FROM dry180 d JOIN real180 r USING (table_name)
ORDER BY d.table_name::text;
SELECT count(*) FILTER (WHERE d < current_date - 180) AS older_than_180
FROM plain_date;
SELECT count(*) AS core_rows_kept FROM core_data;
-- days => 0 meant "before today" for a date column but "before now" for a
-- timestamp one: it is refused; days => 1 keeps today's and yesterday's rows
SELECT count(*) FROM pgscale_cleanup(days => 0, relation => 'small_batches');
SELECT rows_deleted > 0 AS deleted FROM pgscale_cleanup(days => 1, relation => 'small_batches');
SELECT count(*) FILTER (WHERE d < current_date - 1) AS before_yesterday, count(*) > 0 AS rest_kept
FROM small_batches;
-- a stored mixed-sign retention (written before it was refused) is not run:
-- its cutoff would lie in the future after a 31-day month
CREATE TABLE mixed_sign (id int, ts timestamptz NOT NULL);
INSERT INTO mixed_sign SELECT g, now() + g * interval '1 hour' FROM generate_series(-48, 48) g;
SELECT pgscale_set_retention('mixed_sign', '10 days', 'ts');
UPDATE pgscale_policy SET retention = '-1 month 30 days 1 hour'
WHERE table_name = 'mixed_sign'::regclass;
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'mixed_sign');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'mixed_sign');
SELECT count(*) AS rows_kept FROM mixed_sign;
SELECT count(*) AS errors_logged FROM pgscale_log
WHERE action = 'error' AND relid = 'mixed_sign'::regclass;
DELETE FROM pgscale_log WHERE relid = 'mixed_sign'::regclass;
SELECT pgscale_remove_policy('mixed_sign');
DROP TABLE mixed_sign;

-- the procedure commits per batch and gives the same result
CREATE TABLE by_proc (id bigserial PRIMARY KEY, d date NOT NULL, v int);
SELECT fill('by_proc', 'date', 3000);
SELECT pgscale_set_retention('by_proc', '365 days', 'd');
SELECT rows_deleted AS would_delete
FROM pgscale_cleanup(dry_run => true, relation => 'by_proc', batch_size => 100);
SELECT pg_stat_force_next_flush();
SELECT xact_commit AS commits_before FROM pg_stat_database
WHERE datname = current_database() \gset
CALL pgscale_cleanup_proc(relation => 'by_proc', batch_size => 100);
SELECT pg_stat_force_next_flush();
SELECT count(*) FILTER (WHERE d < current_date - 365) AS expired_left, count(*) AS kept
FROM by_proc;
-- 1536 rows in batches of about 100: at least a dozen commits
SELECT xact_commit - :commits_before >= 12 AS committed_per_batch
FROM pg_stat_database WHERE datname = current_database();
-- a dry run through the procedure changes nothing
SELECT fill('by_proc', 'date', 3000);
CALL pgscale_cleanup_proc(dry_run => true, relation => 'by_proc');
SELECT count(*) FILTER (WHERE d < current_date - 365) AS expired_still_there FROM by_proc;
-- inside a transaction block it cannot commit, and says so
\set VERBOSITY terse
BEGIN;
SET LOCAL client_min_messages = notice;
CALL pgscale_cleanup_proc(relation => 'by_proc', dry_run => true, days => 100000);
ROLLBACK;

-- the log: what was done, by whom; nothing for dry runs
SELECT action, source, count(*) > 0 AS logged, bool_and(rows > 0) AS rows_positive
FROM pgscale_log WHERE action = 'delete' GROUP BY 1, 2;
SELECT action, source, count(*) > 0 AS logged, bool_and(object_name LIKE 'ret.part_%') AS partitions
FROM pgscale_log WHERE action = 'drop_partition' GROUP BY 1, 2;
SELECT count(*) AS errors FROM pgscale_log WHERE action = 'error';
SELECT object_name, detail FROM pgscale_log WHERE action = 'error' OR (action = 'drop_partition' AND object_name NOT LIKE 'ret.part_%');
-- and it is pruned after pgscale.log_retention
UPDATE pgscale_log SET logged_at = logged_at - interval '91 days'
WHERE id = (SELECT min(id) FROM pgscale_log);
SELECT count(*) AS before_prune FROM pgscale_log \gset
SELECT count(*) >= 0 AS ran FROM pgscale_cleanup(relation => 'by_proc');
SELECT (SELECT count(*) FROM pgscale_log) = :before_prune AS one_added_one_pruned,
       count(*) AS older_than_90_days
FROM pgscale_log WHERE logged_at < now() - interval '90 days';

-- bad input: each is an error and changes nothing
\set VERBOSITY default
SELECT count(*) AS rows_before FROM plain_date \gset
SELECT * FROM pgscale_cleanup(days => -1);
SELECT * FROM pgscale_cleanup(batch_size => 0);
SELECT * FROM pgscale_cleanup(batch_size => -5);
SELECT * FROM pgscale_cleanup(batch_size => NULL);
SELECT * FROM pgscale_cleanup(dry_run => NULL);
SELECT * FROM pgscale_cleanup(days => 2000000000);
SELECT * FROM pgscale_cleanup(relation => 'core_data');
CREATE TABLE no_policy (d date);
SELECT * FROM pgscale_cleanup(relation => 'no_policy');
SELECT * FROM pgscale_cleanup(relation => 'no_such_table');
CALL pgscale_cleanup_proc(batch_size => 0);
\set VERBOSITY terse
SELECT count(*) = :rows_before AS unchanged FROM plain_date;

-- The policy's column is bound by attribute number: a rename is followed
-- (Django's RenameField), a column dropped or retyped is refused, and a new
-- column of the old name is never taken for it.
CREATE TABLE renamed (id int, created timestamptz NOT NULL, other timestamptz NOT NULL);
INSERT INTO renamed SELECT g, now() - g * interval '1 day', now() - interval '100 days'
FROM generate_series(0, 29) g;
SELECT pgscale_set_retention('renamed', '10 days', 'created');
ALTER TABLE renamed RENAME COLUMN created TO created_at;
SELECT time_column FROM pgscale_policy WHERE table_name = 'renamed'::regclass;
SELECT rows_deleted = (SELECT count(*) FROM renamed WHERE created_at < now() - interval '10 days')
       AS follows_rename
FROM pgscale_cleanup(dry_run => true, relation => 'renamed');
-- the old name now names another column: the policy stays on created_at
ALTER TABLE renamed RENAME COLUMN created_at TO made;
ALTER TABLE renamed RENAME COLUMN other TO created_at;
SELECT time_column FROM pgscale_policy WHERE table_name = 'renamed'::regclass;
SELECT rows_deleted = (SELECT count(*) FROM renamed WHERE made < now() - interval '10 days')
       AS same_column
FROM pgscale_cleanup(dry_run => true, relation => 'renamed');
-- dropped, and a new column of its name added: refused, nothing deleted
ALTER TABLE renamed DROP COLUMN made;
ALTER TABLE renamed ADD COLUMN made timestamptz NOT NULL DEFAULT '2000-01-01';
\set VERBOSITY default
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'renamed');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'renamed');
\set VERBOSITY terse
SELECT count(*) AS all_rows_kept FROM renamed;
-- its type changed: refused
CREATE TABLE retyped (id int, ts timestamptz NOT NULL);
INSERT INTO retyped SELECT g, now() - g * interval '1 day' FROM generate_series(0, 29) g;
SELECT pgscale_set_retention('retyped', '10 days', 'ts');
ALTER TABLE retyped ALTER COLUMN ts TYPE timestamp;
\set VERBOSITY default
SELECT rows_deleted FROM pgscale_cleanup(relation => 'retyped');
\set VERBOSITY terse
SELECT count(*) AS all_rows_kept FROM retyped;
-- both logged with their table, and a cycle over every policy goes on
SELECT count(*) AS errors_logged FROM pgscale_log
WHERE action = 'error' AND relid IN ('renamed'::regclass, 'retyped'::regclass);
SELECT count(*) > 2 AS other_policies_ran FROM pgscale_cleanup(dry_run => true);
-- setting the retention again binds the named column afresh
SELECT pgscale_set_retention('renamed', '10 days', 'made');
-- (every value of the new column is old, as with a wrong column: refused
-- but for force => true)
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'renamed');
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'renamed', force => true);

RESET search_path;
DROP SCHEMA ret CASCADE;
