-- test/demo.sql: a guided tour of pgscale on the seed application's tables.
-- test/demo.sh runs it on a throwaway cluster (pgscale preloaded) loaded
-- with test/data/seed.sql; it works the same in any database that has
-- those three tables and a superuser session.
\set ON_ERROR_STOP on
\set QUIET on
\pset null '(null)'
\pset footer off
\set QUIET off
-- Show each query before its result.
\set ECHO queries

\echo
\echo '== 1. Install the extension'
CREATE EXTENSION pgscale;

\echo
\echo '== 2. Where this database stands: the seed''s scaling tiers, measured'
SELECT tier, tier_name, action, verdict, measured FROM pgscale_scaling_advice();
SELECT schema_name, table_name, total_size, estimated_rows FROM pgscale_space_report(5);
\echo 'Health checks that are not ok:'
SELECT check_name, status, value, advice FROM pgscale_health() WHERE status <> 'ok';

\echo
\echo '== 3. The seed''s retention periods: AIUsageDaily 365 days, WeeklyMetrics'
\echo '      730 days, PullRequest forever (core data)'
SELECT pgscale_set_retention('metrics_aiusagedaily', '365 days', 'date');
SELECT pgscale_set_retention('metrics_weeklymetrics', '730 days', 'week_start');
SELECT pgscale_protect('metrics_pullrequest');
SELECT table_name, time_column, retention, protected FROM pgscale_policy;

\echo
\echo '== 4. Tier 3 of the seed: partition metrics_aiusagedaily by month, online.'
\echo '      The table becomes the first partition of a new partitioned table of'
\echo '      the same name; the exclusive lock is held only for the swap.  Its'
\echo '      primary key (id) gains the date column (extend_keys).'
\timing on
CALL pgscale_partition_table('metrics_aiusagedaily', 'date', extend_keys => true);
\timing off
SELECT c.relname AS partition, pg_get_expr(c.relpartbound, c.oid) AS bounds
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'metrics_aiusagedaily'::regclass ORDER BY c.relname;
\echo 'Inserts without an id go on working (the sequence continues):'
INSERT INTO metrics_aiusagedaily (team_id, member_id, date, source)
VALUES (1, 1, current_date, 'demo') RETURNING id, tableoid::regclass AS landed_in;
DELETE FROM metrics_aiusagedaily WHERE source = 'demo';

-- Row counts and the oldest row against the cutoff, before and after.  A
-- date column keeps the day exactly N days ago: rows dated before
-- current_date - N are expired.
\set ECHO none
\set QUIET on
CREATE TEMP VIEW demo_rows AS
SELECT 'metrics_aiusagedaily'::regclass AS table_name, count(*) AS rows,
       min(date) AS oldest, current_date - 365 AS keep_from,
       count(*) FILTER (WHERE date < current_date - 365) AS expired
FROM metrics_aiusagedaily
UNION ALL
SELECT 'metrics_weeklymetrics', count(*), min(week_start), current_date - 730,
       count(*) FILTER (WHERE week_start < current_date - 730)
FROM metrics_weeklymetrics
UNION ALL
SELECT 'metrics_pullrequest', count(*), min(created_at)::date, NULL, NULL
FROM metrics_pullrequest;
CREATE TEMP TABLE demo_before AS SELECT * FROM demo_rows;
\set QUIET off
\set ECHO queries

\echo
\echo '== 5. Rows before cleanup: "expired" counts rows older than the policy keeps'
SELECT * FROM demo_rows;

\echo
\echo '== 6. Preview (the seed''s cleanup_old_data --dry-run): nothing changes'
SELECT * FROM pgscale_cleanup(dry_run => true);

\echo
\echo '== 7. Cleanup, committing after every batch (one NOTICE per table)'
\timing on
CALL pgscale_cleanup_proc();
\timing off

\echo
\echo '== 8. Rows after: no expired row is left, nothing newer was lost, pull'
\echo '      requests untouched'
SELECT a.table_name, b.rows AS rows_before, b.expired AS expired_before,
       a.rows AS rows_after,
       a.rows = b.rows - coalesce(b.expired, 0) AS kept_all_unexpired,
       a.expired IS NOT DISTINCT FROM
           (CASE WHEN b.expired IS NOT NULL THEN 0 END) AS no_expired_left
FROM demo_rows a JOIN demo_before b USING (table_name);

\echo
\echo '== 9. Move the legacy partition''s rows into their monthly partitions,'
\echo '      one month per transaction, while the application keeps writing'
\timing on
CALL pgscale_split_legacy('metrics_aiusagedaily');
\timing off
SELECT count(*) AS partitions, count(*) FILTER (WHERE c.relname LIKE '%legacy%') AS legacy_left
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'metrics_aiusagedaily'::regclass;

\echo
\echo '== 10. The seed''s index review, without the false positives'
SELECT index_name, index_size, reason FROM pgscale_unused_indexes();
SELECT index_name, covered_by, kind FROM pgscale_duplicate_indexes();

\echo
\echo '== 11. The background worker does the next cycle by itself: list this'
\echo '       database in pgscale.databases, shorten the naptime, reload, and'
\echo '       add a few expired rows for it to find.'
SELECT format('ALTER SYSTEM SET pgscale.databases = %L', current_database()) \gexec
ALTER SYSTEM SET pgscale.naptime = '2s';
SELECT pg_reload_conf();
INSERT INTO metrics_aiusagedaily (team_id, member_id, date, source)
SELECT 1, g, current_date - 500, 'late' FROM generate_series(1, 100) g;
\echo 'waiting for a worker cycle (up to 60 s) ...'
\set QUIET on
DO $$
BEGIN
    FOR i IN 1..240 LOOP
        EXIT WHEN (SELECT cycles FROM pgscale_worker_status()
                   WHERE database = current_database()) >= 1;
        PERFORM pg_sleep(0.25);
    END LOOP;
END $$;
\set QUIET off
SELECT database, outcome, cycles, last_start, next_cycle, last_error FROM pgscale_worker_status();
SELECT count(*) AS late_rows_left FROM metrics_aiusagedaily WHERE source = 'late';
ALTER SYSTEM RESET pgscale.databases;
ALTER SYSTEM RESET pgscale.naptime;
SELECT pg_reload_conf();

\echo
\echo '== 12. The whole picture (pgscale_report)'
\pset tuples_only on
SELECT * FROM pgscale_report();
\pset tuples_only off

\echo
\echo '== 13. What pgscale did, and who ran it (table pgscale_log)'
SELECT logged_at::time(0) AS at, table_name, action, object_name, rows, source
FROM pgscale_log ORDER BY id;
