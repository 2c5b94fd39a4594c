-- test/demo.sql: pgscale on the seed's retention policies, in psql.
-- test/demo.sh runs it on a throwaway cluster loaded with test/data/seed.sql;
-- it works the same in any database that has those three tables.
\set ON_ERROR_STOP on
\set QUIET on
\pset null '(null)'
\set QUIET off
-- Show each query before its result.
\set ECHO queries

\echo
\echo '== 1. Install the extension'
CREATE EXTENSION pgscale;

\echo
\echo '== 2. The seed''s retention periods: AIUsageDaily 365 days, WeeklyMetrics'
\echo '      730 days, PullRequest forever (core data)'
SELECT pgscale_set_retention('metrics_aiusagedaily', '365 days', 'date');
SELECT pgscale_set_retention('metrics_weeklymetrics', '730 days', 'week_start');
SELECT pgscale_protect('metrics_pullrequest');
SELECT * FROM pgscale_policy;

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
\set QUIET off
\set ECHO queries

\echo
\echo '== 3. Rows before: "expired" counts rows older than the policy keeps'
SELECT * FROM demo_rows;
\set QUIET on
CREATE TEMP TABLE demo_before AS SELECT * FROM demo_rows;
\set QUIET off

\echo
\echo '== 4. Preview (the seed''s cleanup_old_data --dry-run): nothing changes'
SELECT * FROM pgscale_cleanup(dry_run => true);

\echo
\echo '== 5. Cleanup (CALL pgscale_cleanup_proc() does the same, committing'
\echo '      after every batch)'
\timing on
SELECT * FROM pgscale_cleanup();
\timing off

\echo
\echo '== 6. Rows after: no expired row is left, nothing newer was lost, pull'
\echo '      requests untouched'
SELECT * FROM demo_rows;
SELECT a.table_name, b.rows AS rows_before, b.expired AS expired_before,
       a.rows AS rows_after,
       a.rows = b.rows - coalesce(b.expired, 0) AS kept_all_unexpired,
       a.expired IS NOT DISTINCT FROM
           (CASE WHEN b.expired IS NOT NULL THEN 0 END) AS no_expired_left
FROM demo_rows a JOIN demo_before b USING (table_name);

\echo
\echo '== 7. What pgscale did (table pgscale_log)'
SELECT * FROM pgscale_log ORDER BY id;
