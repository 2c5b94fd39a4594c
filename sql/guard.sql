--
-- Blast-radius limits: a cleanup that would remove more of a table than its
-- limit (max_delete_fraction: the policy's, else the setting's), or every
-- dated row of it (a stalled ingest, a wrong clock, a wrong column), is
-- refused before anything is deleted, unless called with force => true.
-- The first cleanup of a table never cleaned may remove up to 0.9.  The
-- dry run refuses exactly when the real run would.
--
-- The tables have no statistics (no ANALYZE), so the shares are counted
-- and the messages exact; the last case has statistics.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;
SET client_min_messages = notice;
CREATE SCHEMA guard;
SET search_path = guard, public;
\set VERBOSITY terse
-- (the suite's clusters run with the limit off)
SET pgscale.max_delete_fraction = 0.5;

-- 100 rows a day apart; with 40 days kept, 60 are expired
CREATE FUNCTION fill(tbl regclass, n int, from_day int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('INSERT INTO %s (ts) SELECT now() - g * interval ''1 day'' + interval ''1 hour''
                    FROM generate_series(%s, %s) g', tbl, from_day, from_day + n - 1);
END $$;
CREATE TABLE ev (id int GENERATED ALWAYS AS IDENTITY, ts timestamptz);
SELECT fill('ev', 100, 1);
SELECT pgscale_set_retention('ev', '40 days', 'ts');

-- never cleaned: 60% is over the limit of 50%, but a first cleanup may
-- catch up on history (up to 90%): allowed, with a NOTICE, dry run first
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'ev');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev');
SELECT cleaned_at IS NOT NULL AS marked_cleaned FROM pgscale_policy WHERE table_name = 'ev'::regclass;

-- cleaned once: 60 expired rows of 100 again are refused, dry run and real
-- run alike, the procedure too; nothing is deleted
SELECT fill('ev', 60, 41);
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'ev');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev');
CALL pgscale_cleanup_proc(relation => 'ev');
SELECT count(*) AS all_rows_kept FROM ev;
-- a typo in days is the same accident
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'ev', days => 4);

-- force => true goes past the limit once; the dry run says what it does
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'ev', force => true);
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', force => true);
SELECT count(*) AS left_expired FROM ev WHERE ts < now() - interval '40 days';

-- the policy's own limit takes precedence over the setting
SELECT fill('ev', 60, 41);
SELECT pgscale_set_retention('ev', '40 days', max_delete_fraction => 0.7);
SELECT max_delete_fraction FROM pgscale_policy WHERE table_name = 'ev'::regclass;
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'ev');
CALL pgscale_cleanup_proc(relation => 'ev');
SELECT count(*) AS left_rows FROM ev;
-- setting the retention again without it keeps it
SELECT pgscale_set_retention('ev', '40 days');
SELECT max_delete_fraction FROM pgscale_policy WHERE table_name = 'ev'::regclass;
-- a lower policy limit refuses what the setting would allow
SELECT pgscale_set_retention('ev', '40 days', max_delete_fraction => 0.1);
SELECT fill('ev', 10, 41);
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'ev');
-- and the setting applies to a policy without one
CREATE TABLE ev2 (ts timestamptz);
SELECT fill('ev2', 100, 1);
SELECT pgscale_set_retention('ev2', '40 days', 'ts');
UPDATE pgscale_policy SET cleaned_at = now() WHERE table_name = 'ev2'::regclass;
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'ev2');
SET pgscale.max_delete_fraction = 0.7;
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'ev2');
SET pgscale.max_delete_fraction = 0.5;

-- bad values
SELECT pgscale_set_retention('ev', '40 days', max_delete_fraction => 0);
SELECT pgscale_set_retention('ev', '40 days', max_delete_fraction => 1.5);
SELECT pgscale_set_retention('ev', '40 days', max_delete_fraction => 'NaN');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', force => NULL);
SET pgscale.max_delete_fraction = 0;
SET pgscale.max_delete_fraction = 2;

-- every dated row older than the cutoff: refused whatever the limit, and
-- for a table never cleaned too; rows without a time value do not count as
-- new ones
CREATE TABLE stale (ts timestamptz);
SELECT fill('stale', 10, 100);
INSERT INTO stale VALUES (NULL);
SELECT pgscale_set_retention('stale', '30 days', 'ts');
SET pgscale.max_delete_fraction = 1;
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'stale');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'stale');
SET pgscale.max_delete_fraction = 0.5;
SELECT count(*) AS stale_rows_kept FROM stale;
-- the whole message says what is wrong and what to do
DO $$
DECLARE
    detail text;
    hint text;
BEGIN
    PERFORM pgscale_cleanup(relation => 'guard.stale');
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE 'detail names the newest value and the cutoff: %, hint names force: %',
        detail LIKE 'The newest value is % and the cutoff %: the run would delete every row that has a time value.%',
        hint LIKE '%pgscale_cleanup(relation => ''guard.stale'', force => true)%';
END $$;
SELECT rows_deleted FROM pgscale_cleanup(relation => 'stale', force => true);
SELECT count(*) AS only_undated_left FROM stale;

-- an empty table, or one with nothing expired, is no accident
CREATE TABLE empty (ts timestamptz);
SELECT pgscale_set_retention('empty', '30 days', 'ts');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'empty');

-- a partition dropped whole counts with all its rows: 50 rows in a dropped
-- partition and 10 expired of 20 in the straddling one are 60% of 100
CREATE TABLE part (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
CREATE TABLE part_old PARTITION OF part FOR VALUES FROM (MINVALUE) TO (now() - interval '400 days');
CREATE TABLE part_mid PARTITION OF part
    FOR VALUES FROM (now() - interval '400 days') TO (now() - interval '300 days');
CREATE TABLE part_new PARTITION OF part FOR VALUES FROM (now() - interval '300 days') TO (MAXVALUE);
SELECT fill('part', 50, 500);
SELECT fill('part', 10, 370);
SELECT fill('part', 10, 340);
SELECT fill('part', 30, 1);
SELECT pgscale_set_retention('part', '365 days', 'ts');
UPDATE pgscale_policy SET cleaned_at = now() WHERE table_name = 'part'::regclass;
SELECT partitions_dropped, rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'part');
SELECT pgscale_set_retention('part', '365 days', max_delete_fraction => 0.6);
SELECT partitions_dropped, rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'part');
SELECT partitions_dropped, rows_deleted FROM pgscale_cleanup(relation => 'part');
SELECT count(*) AS part_rows_left FROM part;

-- a partitioned table whose every dated row is older than the cutoff is
-- refused like a plain table, whatever the limit (its newest partition,
-- empty, holds no row that stays); a dated row that stays in any
-- partition, here the default one, lets the run go on
CREATE TABLE pstale (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
CREATE TABLE pstale_old PARTITION OF pstale FOR VALUES FROM (MINVALUE) TO (now() - interval '400 days');
CREATE TABLE pstale_mid PARTITION OF pstale
    FOR VALUES FROM (now() - interval '400 days') TO (now() - interval '10 days');
CREATE TABLE pstale_new PARTITION OF pstale
    FOR VALUES FROM (now() - interval '10 days') TO (now() + interval '30 days');
SELECT fill('pstale', 10, 500);
SELECT fill('pstale', 10, 100);
SELECT pgscale_set_retention('pstale', '30 days', 'ts');
SET pgscale.max_delete_fraction = 1;
SELECT partitions_dropped, rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'pstale');
CREATE TABLE pstale_def PARTITION OF pstale DEFAULT;
INSERT INTO pstale VALUES (now() + interval '60 days');
SELECT partitions_dropped, rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'pstale');
SET pgscale.max_delete_fraction = 0.5;
DROP TABLE pstale;

-- partitions dropped or kept whole are not counted row by row: past a few
-- blocks their rows are the planner's estimate from their size, so the
-- share is "about" 60% (60,000 rows dropped of 100,000), still refused
CREATE TABLE bigpart (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
CREATE TABLE bigpart_old PARTITION OF bigpart
    FOR VALUES FROM (MINVALUE) TO (now() - interval '400 days') WITH (autovacuum_enabled = false);
CREATE TABLE bigpart_new PARTITION OF bigpart
    FOR VALUES FROM (now() - interval '400 days') TO (MAXVALUE) WITH (autovacuum_enabled = false);
INSERT INTO bigpart SELECT now() - interval '500 days' FROM generate_series(1, 60000);
INSERT INTO bigpart SELECT now() - interval '1 day' FROM generate_series(1, 40000);
SELECT pgscale_set_retention('bigpart', '365 days', 'ts');
UPDATE pgscale_policy SET cleaned_at = now() WHERE table_name = 'bigpart'::regclass;
DO $$
BEGIN
    PERFORM pgscale_cleanup(dry_run => true, relation => 'guard.bigpart');
EXCEPTION WHEN program_limit_exceeded THEN
    RAISE NOTICE 'refused: %, estimated: %, about 60%%: %', true,
        SQLERRM LIKE '%would remove about %', SQLERRM ~ 'about (59|60|61)%';
END $$;
SELECT count(*) AS bigpart_rows_kept FROM bigpart;
DROP TABLE bigpart;

-- in a run over every policy (and in a maintenance cycle) a refused table
-- is a warning and a 'refused' log row, and the other tables are cleaned
TRUNCATE pgscale.pgscale_log;
SELECT fill('stale', 5, 100);
CREATE TABLE fine (ts timestamptz);
SELECT fill('fine', 100, 1);
SELECT pgscale_set_retention('fine', '90 days', 'ts');
SELECT table_name, rows_deleted FROM pgscale_cleanup()
WHERE table_name IN ('ev2'::regclass, 'stale'::regclass, 'fine'::regclass) ORDER BY 1::text;
SELECT object_name, detail LIKE '%older than the cutoff%' AS stale, detail LIKE '%of the table''s rows%' AS share
FROM pgscale_log WHERE action = 'refused' ORDER BY 1;
SELECT fill('fine', 20, 91);
TRUNCATE pgscale.pgscale_log;
SELECT count(*) > 0 AS cycle_ran FROM pgscale_run_maintenance();
SELECT string_agg(object_name, ',' ORDER BY object_name) AS refused FROM pgscale_log WHERE action = 'refused';
SELECT count(*) AS fine_expired FROM fine WHERE ts < now() - interval '90 days';
-- pgscale_health() names them
SELECT status, value FROM pgscale_health() WHERE check_name = 'retention refused by its limits';

-- with statistics the shares are the planner's estimates: still refused
CREATE TABLE big (ts timestamptz);
SELECT fill('big', 20000, 1);
SELECT pgscale_set_retention('big', '8000 days', 'ts');
UPDATE pgscale_policy SET cleaned_at = now() WHERE table_name = 'big'::regclass;
ANALYZE big;
DO $$
BEGIN
    PERFORM pgscale_cleanup(dry_run => true, relation => 'guard.big');
    RAISE NOTICE 'not refused';
EXCEPTION WHEN program_limit_exceeded THEN
    RAISE NOTICE 'refused, estimated: %', SQLERRM ~ 'about (5[5-9]|6[0-5])%';
END $$;
SELECT count(*) AS big_rows_kept FROM big;
-- a large heap without statistics is measured in a sample of its blocks
CREATE TABLE wide (ts timestamptz, pad text) WITH (autovacuum_enabled = off);
INSERT INTO wide SELECT now() - g * interval '1 day' + interval '1 hour', repeat('x', 1000)
FROM generate_series(1, 10000) g;
SELECT pg_relation_size('wide') > 1000 * 8192 AS over_the_sample;
SELECT pgscale_set_retention('wide', '4000 days', 'ts');
UPDATE pgscale_policy SET cleaned_at = now() WHERE table_name = 'wide'::regclass;
DO $$
BEGIN
    PERFORM pgscale_cleanup(dry_run => true, relation => 'guard.wide');
    RAISE NOTICE 'not refused';
EXCEPTION WHEN program_limit_exceeded THEN
    RAISE NOTICE 'refused, estimated: %', SQLERRM ~ 'about (5[5-9]|6[0-5])%';
END $$;
SELECT count(*) AS wide_rows_kept FROM wide;
-- once forced, the table is cleaned and no longer refused
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', force => true);
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev2', force => true);
SELECT rows_deleted FROM pgscale_cleanup(relation => 'stale', force => true);
SELECT status, value FROM pgscale_health() WHERE check_name = 'retention refused by its limits';

RESET search_path;
DROP SCHEMA guard CASCADE;
TRUNCATE pgscale.pgscale_log;
