/* pgscale 0.1.0: retention, monthly partitions and health checks */

\echo Use "CREATE EXTENSION pgscale" to load this file. \quit

--
-- Policies: one row per managed table.  Kept by pg_dump (config table), so a
-- dump and restore carries the policies with the data.  Relations are stored
-- as regclass: pg_dump writes them as qualified names, pg_upgrade keeps their
-- OIDs.
--
CREATE TABLE @extschema@.pgscale_policy (
    table_name      regclass PRIMARY KEY,
    time_column     name,
    retention       interval,
    protected       boolean NOT NULL DEFAULT false,
    premake_months  integer,
    time_zone       text,
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT pgscale_policy_protected_no_retention
        CHECK (NOT (protected AND retention IS NOT NULL)),
    CONSTRAINT pgscale_policy_retention_positive
        CHECK (retention IS NULL OR retention OPERATOR(pg_catalog.>) '0'::interval),
    CONSTRAINT pgscale_policy_premake_range
        CHECK (premake_months IS NULL OR premake_months BETWEEN 0 AND 120)
);

COMMENT ON TABLE @extschema@.pgscale_policy IS
    'pgscale retention and partitioning policies, one row per managed table';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgscale_policy', '');

--
-- Activity log: every partition dropped, every batch of rows deleted, every
-- error.  Pruned after pgscale.log_retention.
--
CREATE TABLE @extschema@.pgscale_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    logged_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    table_name  text NOT NULL,
    relid       oid,
    action      text NOT NULL,
    object_name text,
    rows        bigint,
    duration    interval,
    source      text NOT NULL,
    username    name NOT NULL DEFAULT SESSION_USER,
    detail      text,
    CONSTRAINT pgscale_log_source_check
        CHECK (source IN ('manual', 'worker', 'cron'))
);

CREATE INDEX pgscale_log_logged_at_idx ON @extschema@.pgscale_log (logged_at);
CREATE INDEX pgscale_log_relid_idx ON @extschema@.pgscale_log (relid, logged_at);

COMMENT ON TABLE @extschema@.pgscale_log IS
    'pgscale actions: partitions dropped, rows deleted, errors';

-- Readable by everyone (it holds no data, only what maintenance did);
-- written only by pgscale's functions, which switch to the extension owner.
GRANT SELECT ON @extschema@.pgscale_policy TO PUBLIC;
GRANT SELECT ON @extschema@.pgscale_log TO PUBLIC;

--
-- Policy management
--
CREATE FUNCTION @extschema@.pgscale_set_retention(
    relation regclass,
    retention interval,
    time_column name DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_set_retention';

COMMENT ON FUNCTION @extschema@.pgscale_set_retention(regclass, interval, name) IS
    'keep the rows of a table for the given interval, judged by a date or timestamp column';

CREATE FUNCTION @extschema@.pgscale_protect(relation regclass)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_protect';

COMMENT ON FUNCTION @extschema@.pgscale_protect(regclass) IS
    'mark a table as core data that cleanup never touches';

CREATE FUNCTION @extschema@.pgscale_remove_policy(relation regclass)
RETURNS boolean
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_remove_policy';

COMMENT ON FUNCTION @extschema@.pgscale_remove_policy(regclass) IS
    'forget the policy of a table; returns false when it had none';

--
-- Retention
--
CREATE FUNCTION @extschema@.pgscale_cleanup(
    dry_run boolean DEFAULT false,
    days integer DEFAULT NULL,
    relation regclass DEFAULT NULL,
    batch_size integer DEFAULT 10000)
RETURNS TABLE (
    table_name regclass,
    cutoff timestamptz,
    partitions_dropped integer,
    rows_deleted bigint,
    duration interval)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_cleanup';

COMMENT ON FUNCTION @extschema@.pgscale_cleanup(boolean, integer, regclass, integer) IS
    'delete expired rows and drop expired partitions of every table with a retention policy';

-- A procedure cannot carry a SET clause and still commit, so this one runs
-- every statement with fully qualified names instead.
CREATE PROCEDURE @extschema@.pgscale_cleanup_proc(
    dry_run boolean DEFAULT false,
    days integer DEFAULT NULL,
    relation regclass DEFAULT NULL,
    batch_size integer DEFAULT 10000)
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgscale_cleanup_proc';

COMMENT ON PROCEDURE @extschema@.pgscale_cleanup_proc(boolean, integer, regclass, integer) IS
    'pgscale_cleanup committing after every batch and every dropped partition';

--
-- Monthly partitions
--
CREATE FUNCTION @extschema@.pgscale_create_month_partitions(
    relation regclass,
    months_ahead integer DEFAULT 3,
    from_month date DEFAULT NULL)
RETURNS SETOF regclass
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_create_month_partitions';

COMMENT ON FUNCTION @extschema@.pgscale_create_month_partitions(regclass, integer, date) IS
    'create the missing monthly partitions from from_month (default: this month) through months_ahead months from now';

CREATE FUNCTION @extschema@.pgscale_set_partitioning(
    relation regclass,
    months_ahead integer DEFAULT 3,
    time_zone text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_set_partitioning';

COMMENT ON FUNCTION @extschema@.pgscale_set_partitioning(regclass, integer, text) IS
    'keep months_ahead monthly partitions premade (counted from now) during maintenance';

--
-- Maintenance cycle: what the background worker and pg_cron run
--
CREATE FUNCTION @extschema@.pgscale_run_maintenance(dry_run boolean DEFAULT false)
RETURNS TABLE (
    table_name regclass,
    action text,
    object_name text,
    rows bigint,
    detail text)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_run_maintenance';

COMMENT ON FUNCTION @extschema@.pgscale_run_maintenance(boolean) IS
    'one maintenance cycle: premake partitions, enforce retention, analyze, snapshot sizes, prune the log';

CREATE PROCEDURE @extschema@.pgscale_run_maintenance_proc(dry_run boolean DEFAULT false)
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgscale_run_maintenance_proc';

COMMENT ON PROCEDURE @extschema@.pgscale_run_maintenance_proc(boolean) IS
    'pgscale_run_maintenance with a transaction per policy and per batch';

CREATE FUNCTION @extschema@.pgscale_worker_status()
RETURNS TABLE (
    database text,
    running boolean,
    pid integer,
    last_start timestamptz,
    last_end timestamptz,
    outcome text,
    next_cycle timestamptz,
    last_error text,
    last_error_at timestamptz,
    cycles bigint)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_worker_status';

COMMENT ON FUNCTION @extschema@.pgscale_worker_status() IS
    'the background worker: per database, last cycle, outcome, next cycle, last error';

--
-- Forget the policies of tables that are dropped, so that no policy ever
-- points at a stale OID.
--
CREATE FUNCTION @extschema@.pgscale_forget_dropped()
RETURNS event_trigger
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_forget_dropped';

CREATE EVENT TRIGGER pgscale_forget_dropped ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION @extschema@.pgscale_forget_dropped();

-- Online conversion (issue 3) ------------------------------------------------
--
-- Procedures: they commit between their steps so that no lock is held for
-- long.  A procedure cannot carry a SET clause and still commit, so these run
-- every statement with fully qualified names and pin search_path themselves.
--
CREATE PROCEDURE @extschema@.pgscale_partition_table(
    relation regclass,
    time_column name,
    months_ahead integer DEFAULT 3,
    extend_keys boolean DEFAULT false)
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgscale_partition_table';

COMMENT ON PROCEDURE @extschema@.pgscale_partition_table(regclass, name, integer, boolean) IS
    'turn a plain table into a table partitioned by month on time_column, online: the old table becomes its partition up to next month (ACCESS EXCLUSIVE only for a catalog-only swap); extend_keys adds time_column to primary keys and unique constraints (building their new index blocks writes unless one was created beforehand with CREATE UNIQUE INDEX CONCURRENTLY)';

CREATE PROCEDURE @extschema@.pgscale_split_legacy(
    relation regclass,
    batch_size integer DEFAULT 10000)
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgscale_split_legacy';

COMMENT ON PROCEDURE @extschema@.pgscale_split_legacy(regclass, integer) IS
    'move the rows of the legacy partition left by pgscale_partition_table into monthly partitions, one month per transaction (batch_size: most rows moved per statement); the parent is locked only for a catalog-only swap; an UPDATE of a row while its month is moved finds it gone and changes nothing';

-- End of online conversion (issue 3) ------------------------------------------

-- Diagnostics (issue 4) ------------------------------------------------------
--
-- The seed's monitoring checklist as functions.  All of them only read
-- (except pgscale_snapshot_sizes), never wait on a lock (a locked relation
-- is reported as skipped), work on a hot standby and for a role that has
-- no more than pg_monitor.
--

--
-- Size history, filled by pgscale_snapshot_sizes() (daily, from pgscale's
-- background worker or pg_cron).  Tables are named, not referenced by OID,
-- so that the history survives a dump and restore; pg_dump keeps it.
--
CREATE TABLE @extschema@.pgscale_size_history (
    taken_at     timestamptz NOT NULL,
    schema_name     name NOT NULL,
    table_name      name NOT NULL,
    relid           oid,
    total_bytes     bigint,
    table_bytes     bigint,
    index_bytes     bigint,
    toast_bytes     bigint,
    estimated_rows  bigint,
    PRIMARY KEY (schema_name, table_name, taken_at)
);

CREATE INDEX pgscale_size_history_taken_at_idx
    ON @extschema@.pgscale_size_history (taken_at);

COMMENT ON TABLE @extschema@.pgscale_size_history IS
    'pgscale table sizes over time, partitions summed at their parent';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgscale_size_history', '');

GRANT SELECT ON @extschema@.pgscale_size_history TO PUBLIC;

CREATE FUNCTION @extschema@.pgscale_unused_indexes(min_scans bigint DEFAULT 100)
RETURNS TABLE (
    schema_name     name,
    table_name      name,
    index_name      name,
    idx_scan        bigint,
    index_bytes     bigint,
    index_size      text,
    reason          text,
    drop_statement  text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_unused_indexes';

COMMENT ON FUNCTION @extschema@.pgscale_unused_indexes(bigint) IS
    'indexes scanned fewer than min_scans times, and invalid ones, without those that enforce constraints; largest first';

CREATE FUNCTION @extschema@.pgscale_duplicate_indexes()
RETURNS TABLE (
    schema_name     name,
    table_name      name,
    index_name      name,
    covered_by      name,
    kind            text,
    index_bytes     bigint,
    drop_statement  text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_duplicate_indexes';

COMMENT ON FUNCTION @extschema@.pgscale_duplicate_indexes() IS
    'indexes made redundant by an identical index (exact) or a wider btree they lead (prefix)';

CREATE FUNCTION @extschema@.pgscale_missing_indexes(min_rows bigint DEFAULT 10000)
RETURNS TABLE (
    schema_name     name,
    table_name      name,
    seq_scan        bigint,
    seq_tup_read    bigint,
    idx_scan        bigint,
    live_rows       bigint,
    index_count     integer,
    table_bytes     bigint,
    table_size      text,
    advice          text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_missing_indexes';

COMMENT ON FUNCTION @extschema@.pgscale_missing_indexes(bigint) IS
    'tables over min_rows live rows read by sequential scans more than ten times as often as by index, tables without any index included';

CREATE FUNCTION @extschema@.pgscale_table_bloat(exact boolean DEFAULT false)
RETURNS TABLE (
    schema_name     name,
    table_name      name,
    index_name      name,
    kind            text,
    relation_bytes  bigint,
    wasted_bytes    bigint,
    wasted_percent  numeric,
    method          text,
    advice          text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_table_bloat';

COMMENT ON FUNCTION @extschema@.pgscale_table_bloat(boolean) IS
    'wasted space per table and btree index: estimated from the catalogs, or measured by pgstattuple with exact => true';

CREATE FUNCTION @extschema@.pgscale_slow_queries(lim integer DEFAULT 20)
RETURNS TABLE (
    queryid         bigint,
    username        name,
    calls           bigint,
    total_ms        double precision,
    mean_ms         double precision,
    max_ms          double precision,
    rows            bigint,
    hit_percent     numeric,
    total_percent   numeric,
    query           text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_slow_queries';

COMMENT ON FUNCTION @extschema@.pgscale_slow_queries(integer) IS
    'statements of this database with the highest mean time, from pg_stat_statements when installed';

CREATE FUNCTION @extschema@.pgscale_space_report(lim integer DEFAULT 20)
RETURNS TABLE (
    schema_name     name,
    table_name      name,
    total_bytes     bigint,
    table_bytes     bigint,
    index_bytes     bigint,
    toast_bytes     bigint,
    estimated_rows  bigint,
    total_size      text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_space_report';

COMMENT ON FUNCTION @extschema@.pgscale_space_report(integer) IS
    'largest tables, partitions summed at their parent';

CREATE FUNCTION @extschema@.pgscale_health()
RETURNS TABLE (
    check_name      text,
    status          text,
    value           text,
    threshold       text,
    advice          text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_health';

COMMENT ON FUNCTION @extschema@.pgscale_health() IS
    'the monitoring checklist: each check ok, warn, critical or unknown, with what to do';

CREATE FUNCTION @extschema@.pgscale_snapshot_sizes()
RETURNS integer
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_snapshot_sizes';

COMMENT ON FUNCTION @extschema@.pgscale_snapshot_sizes() IS
    'record the size of every table in pgscale_size_history; returns the number of tables recorded';

-- It writes: only the superuser, and roles granted EXECUTE, may run it.
REVOKE EXECUTE ON FUNCTION @extschema@.pgscale_snapshot_sizes() FROM PUBLIC;

CREATE FUNCTION @extschema@.pgscale_growth_forecast(horizon interval DEFAULT '90 days')
RETURNS TABLE (
    schema_name     name,
    table_name      name,
    samples         integer,
    first_snapshot  timestamptz,
    last_snapshot   timestamptz,
    current_bytes   bigint,
    bytes_per_day   bigint,
    forecast_bytes  bigint,
    forecast_size   text,
    fit_r2          double precision)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_growth_forecast';

COMMENT ON FUNCTION @extschema@.pgscale_growth_forecast(interval) IS
    'each table''s size at now() + horizon, by a linear fit through its size snapshots';

CREATE FUNCTION @extschema@.pgscale_scaling_advice()
RETURNS TABLE (
    tier            integer,
    tier_name       text,
    action          text,
    measured        text,
    trigger         text,
    verdict         text)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS 'MODULE_PATHNAME', 'pgscale_scaling_advice';

COMMENT ON FUNCTION @extschema@.pgscale_scaling_advice() IS
    'the seed''s scaling tiers with what this database measures: each action due now, to plan within 90 days, not yet, or done';

-- End of Diagnostics (issue 4) -----------------------------------------------

--
-- The whole picture as text: tier, largest tables, growth, indexes to drop,
-- retention status, health.  For psql: SELECT * FROM pgscale_report();
--
CREATE FUNCTION @extschema@.pgscale_report()
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $report$
DECLARE
    r record;
    n integer;
BEGIN
    RETURN NEXT format('pgscale report: database %s, %s',
                       pg_catalog.quote_ident(pg_catalog.current_database()),
                       pg_catalog.to_char(pg_catalog.now(), 'YYYY-MM-DD HH24:MI TZ'));

    RETURN NEXT '';
    RETURN NEXT '== Scaling tier';
    n := 0;
    FOR r IN SELECT * FROM @extschema@.pgscale_scaling_advice() a
             WHERE a.verdict IN ('now', 'plan') ORDER BY a.tier, a.verdict DESC
    LOOP
        RETURN NEXT format('  tier %s (%s): %s -- %s, because %s', r.tier, r.tier_name,
                           r.action, r.verdict, r.measured);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        SELECT max(a.tier) AS tier INTO r FROM @extschema@.pgscale_scaling_advice() a
        WHERE a.verdict IN ('done', 'not yet');
        RETURN NEXT '  nothing to do now or to plan: the current tier holds';
    END IF;

    RETURN NEXT '';
    RETURN NEXT '== Largest tables';
    FOR r IN SELECT * FROM @extschema@.pgscale_space_report(10) LOOP
        RETURN NEXT format('  %-50s %10s  (table %s, indexes %s%s)',
                           pg_catalog.quote_ident(r.schema_name) || '.' || pg_catalog.quote_ident(r.table_name),
                           r.total_size, pg_catalog.pg_size_pretty(r.table_bytes),
                           pg_catalog.pg_size_pretty(r.index_bytes),
                           CASE WHEN r.estimated_rows IS NOT NULL
                                THEN format(', ~%s rows', r.estimated_rows) ELSE '' END);
    END LOOP;

    RETURN NEXT '';
    RETURN NEXT '== Growth forecast (90 days)';
    n := 0;
    FOR r IN SELECT * FROM @extschema@.pgscale_growth_forecast('90 days') f
             ORDER BY f.forecast_bytes DESC NULLS LAST LIMIT 10
    LOOP
        RETURN NEXT format('  %-50s now %s, in 90 days %s%s',
                           pg_catalog.quote_ident(r.schema_name) || '.' || pg_catalog.quote_ident(r.table_name),
                           pg_catalog.pg_size_pretty(r.current_bytes), r.forecast_size,
                           CASE WHEN r.bytes_per_day IS NOT NULL
                                THEN format(' (%s a day over %s snapshots)',
                                            pg_catalog.pg_size_pretty(r.bytes_per_day), r.samples)
                                ELSE '' END);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RETURN NEXT '  no size history yet: the worker takes a snapshot daily (or run SELECT pgscale_snapshot_sizes())';
    END IF;

    RETURN NEXT '';
    RETURN NEXT '== Indexes to drop';
    n := 0;
    FOR r IN SELECT u.index_name, u.index_size, u.reason, u.drop_statement
             FROM @extschema@.pgscale_unused_indexes() u ORDER BY u.index_bytes DESC LIMIT 10
    LOOP
        RETURN NEXT format('  unused    %s (%s): %s', r.index_name, r.index_size, r.reason);
        RETURN NEXT format('            %s', r.drop_statement);
        n := n + 1;
    END LOOP;
    FOR r IN SELECT d.index_name, d.covered_by, d.kind, d.drop_statement
             FROM @extschema@.pgscale_duplicate_indexes() d ORDER BY d.index_bytes DESC LIMIT 10
    LOOP
        RETURN NEXT format('  %-9s %s, covered by %s', r.kind, r.index_name, r.covered_by);
        RETURN NEXT format('            %s', r.drop_statement);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RETURN NEXT '  none';
    END IF;

    RETURN NEXT '';
    RETURN NEXT '== Retention';
    n := 0;
    FOR r IN
        SELECT p.table_name, p.retention, p.protected, p.premake_months, p.time_column,
               (SELECT max(l.logged_at) FROM @extschema@.pgscale_log l
                WHERE l.relid OPERATOR(pg_catalog.=) p.table_name::pg_catalog.oid
                  AND l.action <> 'error') AS last_action,
               (SELECT max(l.logged_at) FROM @extschema@.pgscale_log l
                WHERE l.relid OPERATOR(pg_catalog.=) p.table_name::pg_catalog.oid
                  AND l.action = 'error') AS last_error
        FROM @extschema@.pgscale_policy p ORDER BY p.table_name::text
    LOOP
        RETURN NEXT format('  %-50s %s%s; last action %s%s',
                           r.table_name::text,
                           CASE WHEN r.protected THEN 'protected, kept forever'
                                WHEN r.retention IS NOT NULL THEN format('keep %s by %s', r.retention, r.time_column)
                                ELSE 'no retention' END,
                           CASE WHEN r.premake_months IS NOT NULL
                                THEN format(', %s months premade', r.premake_months) ELSE '' END,
                           coalesce(pg_catalog.to_char(r.last_action, 'YYYY-MM-DD HH24:MI'), 'never'),
                           CASE WHEN r.last_error IS NOT NULL
                                THEN format(', last error %s', pg_catalog.to_char(r.last_error, 'YYYY-MM-DD HH24:MI'))
                                ELSE '' END);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RETURN NEXT '  no policies: SELECT pgscale_set_retention(''table'', ''365 days'', ''time_column'')';
    END IF;

    RETURN NEXT '';
    RETURN NEXT '== Health (checks that are not ok)';
    n := 0;
    FOR r IN SELECT * FROM @extschema@.pgscale_health() h WHERE h.status <> 'ok' LOOP
        RETURN NEXT format('  [%s] %s: %s (threshold %s)', r.status, r.check_name, r.value, r.threshold);
        RETURN NEXT format('      %s', r.advice);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RETURN NEXT '  every check is ok';
    END IF;
END
$report$;

COMMENT ON FUNCTION @extschema@.pgscale_report() IS
    'the whole picture as text: tier, largest tables, growth, indexes to drop, retention, health';
