--
-- The steps of a run: each one is timed on its own under CALL (a session's
-- statement_timeout must not cancel the whole run), premake comes before
-- every purge, committed batches are always in the log, and foreign-table
-- partitions are dropped as foreign tables.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;

CREATE SCHEMA steps;
SET search_path = steps, public;
-- the batches below are counted in the order the rows were inserted: a
-- VACUUM after a purge would put the next rows into the freed pages
SET pgscale.vacuum_after_purge = off;
\set VERBOSITY terse

-- A table whose deletes are slow (its trigger sleeps 50 ms a row; about
-- five rows a page, so that small batches are small), one that needs its
-- next months, and a quick one; policies run in this order.
CREATE TABLE slow (id int, ts timestamptz NOT NULL, filler text);
INSERT INTO slow SELECT g, now() - interval '100 days', repeat('x', 1500)
FROM generate_series(1, 50) g;
-- (and one row that stays: a cleanup that would delete every row is refused)
INSERT INTO slow VALUES (0, now(), 'kept');
CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN PERFORM pg_sleep(0.05); RETURN OLD; END$$;
CREATE TRIGGER slow_down BEFORE DELETE ON slow
    FOR EACH ROW EXECUTE FUNCTION slow_down();
SELECT pgscale_set_retention('slow', '30 days', 'ts');
CREATE TABLE later (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
SELECT pgscale_set_partitioning('later', 2);
CREATE TABLE quick (ts timestamptz NOT NULL);
INSERT INTO quick SELECT now() - g * interval '1 day' FROM generate_series(1, 60) g;
SELECT pgscale_set_retention('quick', '30 days', 'ts');

-- statement_timeout = 1s: the CALL as a whole takes longer, and the one
-- batch of "slow" (50 rows, 2.5 s) is cancelled on its own.  The cycle goes
-- on: "later" gets its months, "quick" is purged, the error is logged.
SET statement_timeout = '1s';
CALL pgscale_run_maintenance_proc();
RESET statement_timeout;
SELECT count(*) >= 3 AS later_premade FROM pg_inherits WHERE inhparent = 'later'::regclass;
SELECT count(*) AS quick_expired FROM quick WHERE ts < now() - interval '30 days';
SELECT count(*) AS slow_rows_kept FROM slow;
SELECT count(*) AS timeout_logged FROM pgscale_log
WHERE relid = 'slow'::regclass AND action = 'error' AND detail LIKE '%statement timeout%';

-- pgscale.step_timeout alone does the same for a run without statement_timeout
TRUNCATE pgscale.pgscale_log;
SET pgscale.step_timeout = '1s';
CALL pgscale_cleanup_proc(relation => 'slow');
RESET pgscale.step_timeout;
SELECT count(*) AS slow_rows_kept FROM slow;

-- In batches of 5 rows (250 ms each) every step fits in the second, though
-- the whole CALL takes 2.5 s: every row goes, and the log holds them all.
TRUNCATE pgscale.pgscale_log;
SET statement_timeout = '1s';
CALL pgscale_cleanup_proc(relation => 'slow', batch_size => 5);
RESET statement_timeout;
SELECT count(*) AS slow_rows_left FROM slow;
SELECT action, rows FROM pgscale_log WHERE relid = 'slow'::regclass ORDER BY id;

-- A step cancelled midway: the batches committed before it are logged.
INSERT INTO slow SELECT g, now() - interval '100 days', repeat('x', 1500)
FROM generate_series(1, 50) g;
CREATE OR REPLACE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN IF OLD.id > 40 THEN PERFORM pg_sleep(2); END IF; RETURN OLD; END$$;
TRUNCATE pgscale.pgscale_log;
SET pgscale.step_timeout = '1s';
CALL pgscale_cleanup_proc(relation => 'slow', batch_size => 10);
RESET pgscale.step_timeout;
SELECT count(*) AS slow_rows_left FROM slow;
SELECT action, rows, detail LIKE 'stopped by%' AS stopped
FROM pgscale_log WHERE relid = 'slow'::regclass AND action = 'delete';
SELECT count(*) AS errors FROM pgscale_log WHERE relid = 'slow'::regclass AND action = 'error';

-- The function form keeps the session's statement_timeout for the whole
-- call: it runs in one transaction, and a cancel undoes all of it.
SET statement_timeout = '1s';
SELECT rows_deleted FROM pgscale_cleanup(relation => 'slow');
RESET statement_timeout;
SELECT count(*) AS slow_rows_left FROM slow;
DROP TRIGGER slow_down ON slow;

-- An expired partition that is a foreign table is dropped as one: only its
-- definition goes (its rows stay on the foreign server), and the dry run
-- says so.
CREATE EXTENSION file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE TABLE fp (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
CREATE FOREIGN TABLE fp_2000 PARTITION OF fp
    FOR VALUES FROM ('2000-01-01') TO ('2001-01-01')
    SERVER files OPTIONS (filename '/dev/null', format 'csv');
CREATE TABLE fp_now PARTITION OF fp FOR VALUES FROM ('2001-01-01') TO (MAXVALUE);
INSERT INTO fp_now VALUES (now(), 1);
SELECT pgscale_set_retention('fp', '30 days');
SET client_min_messages = notice;
SELECT partitions_dropped FROM pgscale_cleanup(dry_run => true, relation => 'fp');
SET client_min_messages = warning;
SELECT partitions_dropped FROM pgscale_cleanup(relation => 'fp');
SELECT to_regclass('fp_2000') IS NULL AS foreign_partition_dropped;
SELECT count(*) AS kept FROM fp;
SELECT action, detail LIKE 'foreign table%' AS says_foreign
FROM pgscale_log WHERE relid = 'fp'::regclass ORDER BY id;

-- Rows whose time is NULL are never deleted: the dry run counts them, and
-- pgscale_health() warns (from the statistics).
CREATE TABLE nulls (ts timestamptz);
INSERT INTO nulls SELECT CASE WHEN g % 4 = 0 THEN NULL ELSE now() - g * interval '1 day' END
FROM generate_series(1, 60) g;
SELECT pgscale_set_retention('nulls', '30 days', 'ts');
ANALYZE nulls;
SET client_min_messages = notice;
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'nulls');
SET client_min_messages = warning;
SELECT status, value = 'about 15 rows, in 1 of the tables with a retention (most in steps.nulls)' AS counts_them
FROM pgscale_health() WHERE check_name = 'rows without a time value';
SELECT rows_deleted FROM pgscale_cleanup(relation => 'nulls');
SELECT count(*) AS kept_null FROM nulls WHERE ts IS NULL;

RESET search_path;
DROP SCHEMA steps CASCADE;
