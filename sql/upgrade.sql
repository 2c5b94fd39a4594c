--
-- ALTER EXTENSION pgscale UPDATE works from every released version: each
-- one is installed, updated to the default, and must then have exactly the
-- objects of a fresh install.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pgscale CASCADE;

CREATE TEMP TABLE upgrade_results (from_version text, same_objects boolean);

CREATE FUNCTION pg_temp.members() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT pg_describe_object(classid, objid, objsubid)
    FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
    WHERE e.extname = 'pgscale' AND d.deptype = 'e'
$$;

CREATE EXTENSION pgscale;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.members() AS m;
DROP EXTENSION pgscale;

DO $$
DECLARE
    v text;
    same boolean;
BEGIN
    FOR v IN SELECT version FROM pg_available_extension_versions
             WHERE name = 'pgscale' ORDER BY string_to_array(version, '.')::int[]
    LOOP
        EXECUTE format('CREATE EXTENSION pgscale VERSION %L', v);
        ALTER EXTENSION pgscale UPDATE;
        SELECT NOT EXISTS (SELECT * FROM fresh EXCEPT SELECT * FROM pg_temp.members())
           AND NOT EXISTS (SELECT * FROM pg_temp.members() EXCEPT SELECT * FROM fresh)
          INTO same;
        INSERT INTO upgrade_results VALUES (v, same);
        DROP EXTENSION pgscale;
    END LOOP;
END $$;

SELECT count(*) >= 1 AS versions_tried, bool_and(same_objects) AS all_match
FROM upgrade_results;
CREATE EXTENSION pgscale;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'pgscale')
       AS installed_default
FROM pg_extension WHERE extname = 'pgscale';

-- An update keeps what a 0.1.0 database holds: its policies (written here
-- as 0.1.0 stored them, by column name) and its log, and the policies go on
-- working (same dry run as real run).  Before the update the new library
-- refuses, with a hint, rather than misread the old tables.
DROP EXTENSION pgscale;
CREATE EXTENSION pgscale VERSION '0.1.0';
CREATE TABLE upgrade_ev (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO upgrade_ev (ts)
SELECT now() - i * interval '1 day' FROM generate_series(1, 60) AS i;
CREATE TABLE upgrade_kept (id int, ts timestamptz);
INSERT INTO pgscale_policy (table_name, time_column, retention)
VALUES ('upgrade_ev', 'ts', interval '30 days');
INSERT INTO pgscale_policy (table_name, protected) VALUES ('upgrade_kept', true);
INSERT INTO pgscale_log (table_name, relid, action, rows, source)
VALUES ('upgrade_ev', 'upgrade_ev'::regclass, 'delete', 0, 'manual');
SELECT count(*) AS log_rows_before FROM pgscale_log \gset
\set VERBOSITY default
SELECT count(*) FROM pgscale_cleanup(dry_run => true);
\set VERBOSITY terse
ALTER EXTENSION pgscale UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'pgscale')
       AS updated
FROM pg_extension WHERE extname = 'pgscale';
SELECT table_name, protected, time_attnum FROM pgscale_policy ORDER BY table_name::text;
SELECT count(*) >= :log_rows_before AS log_kept FROM pgscale_log;
-- the catalog tables moved to schema pgscale; the extension's schema has a
-- view of each that runs with the caller's rights
SELECT count(*) FILTER (WHERE c.relkind = 'r' AND c.relnamespace = 'pgscale'::regnamespace)
         AS catalog_tables,
       count(*) FILTER (WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace
                          AND c.reloptions @> '{security_invoker=true}')
         AS invoker_views
FROM pg_class c
WHERE c.relname IN ('pgscale_policy', 'pgscale_log', 'pgscale_size_history', 'pgscale_index_seen',
                    'pgscale_inventory', 'pgscale_archive', 'pgscale_detached');
SELECT sum(rows_deleted) AS dry_run FROM pgscale_cleanup(dry_run => true);
SELECT sum(rows_deleted) AS deleted FROM pgscale_cleanup();
SELECT count(*) AS kept, min(ts) > now() - interval '30 days' AS only_recent FROM upgrade_ev;
-- the update turns row security on: a role that owns none of the tables
-- sees none of their rows, the superuser all of them; and it records the
-- indexes that exist as seen now (their age for pgscale_unused_indexes)
SELECT count(*) FILTER (WHERE c.relrowsecurity) AS row_security_on,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid IN
          ('pgscale.pgscale_policy'::regclass, 'pgscale.pgscale_log'::regclass,
           'pgscale.pgscale_size_history'::regclass, 'pgscale.pgscale_index_seen'::regclass,
           'pgscale.pgscale_detached'::regclass)) AS read_policies,
       (SELECT count(*) > 0 FROM pgscale_index_seen s
         WHERE s.indexrelid = 'upgrade_ev_pkey'::regclass) AS indexes_seen
FROM pg_class c
WHERE c.oid IN ('pgscale.pgscale_policy'::regclass, 'pgscale.pgscale_log'::regclass,
                'pgscale.pgscale_size_history'::regclass, 'pgscale.pgscale_index_seen'::regclass,
                'pgscale.pgscale_detached'::regclass);
-- issue 17: the record of partitions being detached concurrently comes with
-- the update, empty, kept by pg_dump
SELECT (SELECT count(*) FROM pgscale_detached) AS detached_records,
       'pgscale.pgscale_detached'::regclass = ANY (extconfig) AS detached_dumped
FROM pg_extension WHERE extname = 'pgscale';
CREATE ROLE regress_upgrade_stranger;
SET ROLE regress_upgrade_stranger;
SELECT (SELECT count(*) FROM pgscale_policy) AS stranger_policies,
       (SELECT count(*) FROM pgscale_log) AS stranger_log;
RESET ROLE;
DROP ROLE regress_upgrade_stranger;
SELECT count(*) AS superuser_policies FROM pgscale_policy;
-- the policies of 0.1.0 refuse to delete referenced rows (on_referenced =
-- 'error'), and pgscale_cleanup() says through which key a table was reached
SELECT string_agg(DISTINCT on_referenced, ',') AS on_referenced FROM pgscale_policy;
SELECT pg_get_function_result('pgscale_cleanup(boolean, integer, regclass, integer, boolean, boolean)'::regprocedure)
       LIKE '%reached_through text%' AS cleanup_says_reached_through,
       pg_get_function_arguments('pgscale_set_retention'::regproc)
       LIKE '%on_referenced text DEFAULT NULL%max_delete_fraction real DEFAULT NULL%'
       AS set_retention_takes_on_referenced;
-- the blast-radius limits: cleanup and its procedure take force, and a
-- table 0.1.0 already cleaned has its last cleanup from the log (so its
-- next run gets no catch-up allowance); the protected one was never cleaned
SELECT pg_get_function_arguments('pgscale_cleanup(boolean, integer, regclass, integer, boolean, boolean)'::regprocedure)
       LIKE '%force boolean DEFAULT false%' AS cleanup_takes_force,
       pg_get_function_arguments('pgscale_cleanup_proc'::regproc)
       LIKE '%force boolean DEFAULT false%' AS cleanup_proc_takes_force;
SELECT table_name, cleaned_at IS NOT NULL AS cleaned, max_delete_fraction
FROM pgscale_policy ORDER BY table_name::text;
-- the HTML report comes with the update, and escapes what it writes
SELECT pgscale_report_html() LIKE '<!DOCTYPE html>%</html>%' AS report_is_a_page,
       pgscale_html_text('<a href="x">&''') = '&lt;a href=&quot;x&quot;&gt;&amp;&#39;' AS escapes;
-- the maintenance window: cleanup, its procedure and the maintenance
-- cycle (both forms) take respect_window after 0.1.0's parameters (the
-- procedure then reclaim), so that calls written for 0.1.0 keep working;
-- 0.1.0's own calls (positional) still run
SELECT pg_get_function_arguments('pgscale_cleanup(boolean, integer, regclass, integer, boolean, boolean)'::regprocedure)
       LIKE '%force boolean DEFAULT false, respect_window boolean DEFAULT false' AS cleanup_takes_respect_window,
       pg_get_function_arguments('pgscale_cleanup_proc'::regproc)
       LIKE '%force boolean DEFAULT false, %respect_window boolean DEFAULT false, %reclaim boolean DEFAULT false' AS cleanup_proc_takes_respect_window,
       pg_get_function_arguments('pgscale_run_maintenance(boolean, boolean)'::regprocedure)
       = 'dry_run boolean DEFAULT false, respect_window boolean DEFAULT false' AS maintenance_takes_respect_window,
       pg_get_function_arguments('pgscale_run_maintenance_proc(boolean, boolean)'::regprocedure)
       LIKE '%dry_run boolean DEFAULT false, %respect_window boolean DEFAULT false' AS maintenance_proc_takes_respect_window;
SELECT count(*) >= 0 AS positional_calls_run
FROM pgscale_cleanup(true, 30, 'upgrade_ev', 100), pgscale_run_maintenance(true);
-- issue 17: the policies of 0.1.0 keep dropping what expires; the archive
-- settings, catalog and functions come with the update
SELECT string_agg(DISTINCT action, ',') AS action,
       bool_and(archive_schema IS NULL AND archive_keep IS NULL) AS no_archive_settings
FROM pgscale_policy;
SELECT pg_get_function_arguments('pgscale_set_retention'::regproc)
       LIKE '%max_delete_fraction real DEFAULT NULL%, action text DEFAULT NULL%, archive_schema name DEFAULT NULL%, archive_keep interval DEFAULT NULL%'
       AS set_retention_takes_action,
       (SELECT count(*) FROM pgscale_archived()) AS archived_pieces,
       to_regprocedure('pgscale_restore_archive(regclass, timestamptz, timestamptz, integer)') IS NOT NULL
       AS restore_exists;
SELECT pgscale_set_retention('upgrade_ev', '30 days', action => 'archive', archive_schema => 'upgrade_archive');
INSERT INTO upgrade_ev (ts) SELECT now() - i * interval '1 day' FROM generate_series(31, 40) AS i;
SELECT rows_deleted AS archive_dry_run FROM pgscale_cleanup(dry_run => true, relation => 'upgrade_ev');
SELECT rows_deleted AS archive_run FROM pgscale_cleanup(relation => 'upgrade_ev');
SELECT (SELECT count(*) FROM upgrade_archive.upgrade_ev) AS archived_rows,
       (SELECT count(*) FROM upgrade_ev WHERE ts < now() - interval '30 days') AS expired_left;
DROP SCHEMA upgrade_archive CASCADE;
DROP TABLE upgrade_ev, upgrade_kept;
-- issue 20: the per-policy status, callable after the update (one row
-- per policy; nothing has failed in a row)
CREATE TABLE upgrade_status (ts timestamptz NOT NULL);
SELECT pgscale_set_retention('upgrade_status', interval '30 days', 'ts');
SELECT table_name, oldest_row_source, compliant, consecutive_failures
FROM pgscale_policy_status() WHERE table_name = 'upgrade_status'::regclass;
SELECT pg_catalog.has_function_privilege('public', 'pgscale_policy_status()', 'EXECUTE')
       AS public_may_call_status;
DROP TABLE upgrade_status;
-- the catalog schema: a schema named pgscale of the user's own is refused,
-- with a hint; created in schema pgscale itself, the extension keeps its
-- tables there and makes no view
DROP EXTENSION pgscale;
CREATE SCHEMA pgscale;
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE EXTENSION pgscale;
\set VERBOSITY terse
\set SHOW_CONTEXT errors
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'pgscale';
CREATE EXTENSION pgscale SCHEMA pgscale;
SELECT count(*) FILTER (WHERE relkind = 'r') AS tables, count(*) FILTER (WHERE relkind = 'v') AS views
FROM pg_class WHERE relname IN ('pgscale_policy', 'pgscale_log', 'pgscale_size_history',
                                'pgscale_index_seen', 'pgscale_inventory', 'pgscale_archive',
                                'pgscale_detached');
SELECT count(*) AS policies FROM pgscale.pgscale_policy;
DROP EXTENSION pgscale;
DROP SCHEMA pgscale;
CREATE EXTENSION pgscale;
