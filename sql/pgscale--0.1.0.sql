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
