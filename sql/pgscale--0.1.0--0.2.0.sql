/* pgscale 0.1.0 -> 0.2.0 */

\echo Use "ALTER EXTENSION pgscale UPDATE TO '0.2.0'" to load this file. \quit

--
-- A fresh CREATE EXTENSION pgscale installs 0.1.0 and runs this script, so
-- every change of 0.2.0 lives here once; sql/upgrade.sql checks that an
-- updated install has exactly the objects of a fresh one.
--

--
-- Issue 12, item 4: a policy's time column is bound by attribute number.
-- time_attnum and time_type record the column and its type when the policy
-- is written; a rename is followed (the name is kept current, so pg_dump
-- restores it), a dropped column is remembered as time_attnum = 0 (so a new
-- column of the old name is never taken for it, not even after a restore),
-- and a changed type makes the policy refuse to run.
--
ALTER TABLE @extschema@.pgscale_policy
    ADD COLUMN time_attnum smallint,
    ADD COLUMN time_type regtype;

COMMENT ON COLUMN @extschema@.pgscale_policy.time_attnum IS
    'attribute number of time_column when the policy was written; 0 once that column was dropped';
COMMENT ON COLUMN @extschema@.pgscale_policy.time_type IS
    'type of time_column when the policy was written; the policy refuses to run after a type change';

UPDATE @extschema@.pgscale_policy p
SET time_attnum = a.attnum, time_type = a.atttypid
FROM pg_catalog.pg_attribute a
WHERE a.attrelid OPERATOR(pg_catalog.=) p.table_name::pg_catalog.oid
  AND a.attname OPERATOR(pg_catalog.=) p.time_column
  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;

-- Binds time_column by name whenever a policy row is written with a new
-- name or without time_attnum (pgscale_set_retention, a restore by
-- pg_dump, a hand-written row).
CREATE FUNCTION @extschema@.pgscale_policy_bind_column()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.time_column IS NULL THEN
        NEW.time_attnum := NULL;
        NEW.time_type := NULL;
        RETURN NEW;
    END IF;
    -- an update binds again when it names another column, or clears
    -- time_attnum (pgscale_set_retention does, to bind afresh)
    IF TG_OP = 'UPDATE' AND NEW.time_column IS NOT DISTINCT FROM OLD.time_column
       AND NEW.time_attnum IS NOT NULL THEN
        RETURN NEW;
    END IF;
    -- a restored policy whose column had been dropped stays refused
    IF TG_OP = 'INSERT' AND NEW.time_attnum = 0 THEN
        RETURN NEW;
    END IF;
    SELECT a.attnum, a.atttypid INTO NEW.time_attnum, NEW.time_type
    FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = NEW.table_name::pg_catalog.oid
      AND a.attname = NEW.time_column
      AND a.attnum > 0 AND NOT a.attisdropped;
    RETURN NEW;
END
$$;

CREATE TRIGGER pgscale_policy_bind_column
    BEFORE INSERT OR UPDATE ON @extschema@.pgscale_policy
    FOR EACH ROW EXECUTE FUNCTION @extschema@.pgscale_policy_bind_column();

-- After ALTER TABLE: keep time_column the current name of the bound column
-- (Django's RenameField).  Runs as the extension owner, who owns
-- pgscale_policy; it only touches the policies of the tables just altered.
CREATE FUNCTION @extschema@.pgscale_follow_columns()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE @extschema@.pgscale_policy p
    SET time_column = a.attname, updated_at = pg_catalog.now()
    FROM pg_catalog.pg_attribute a
    WHERE p.table_name::pg_catalog.oid IN
            (SELECT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() c
             WHERE c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
      AND p.time_attnum > 0
      AND a.attrelid = p.table_name::pg_catalog.oid
      AND a.attnum = p.time_attnum
      AND NOT a.attisdropped
      AND a.attname <> p.time_column;
END
$$;

CREATE EVENT TRIGGER pgscale_follow_columns ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION @extschema@.pgscale_follow_columns();

-- After a column is dropped: remember that the policy's column is gone.
CREATE FUNCTION @extschema@.pgscale_forget_columns()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE @extschema@.pgscale_policy p
    SET time_attnum = 0, updated_at = pg_catalog.now()
    FROM pg_catalog.pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
      AND d.objsubid > 0
      AND d.objid = p.table_name::pg_catalog.oid
      AND d.objsubid = p.time_attnum;
END
$$;

CREATE EVENT TRIGGER pgscale_forget_columns ON sql_drop
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION @extschema@.pgscale_forget_columns();

--
-- Foreign keys that reference a table with a retention: what to do with its
-- expired rows that are still referenced.
--
ALTER TABLE @extschema@.pgscale_policy
    ADD COLUMN on_referenced text NOT NULL DEFAULT 'error',
    ADD CONSTRAINT pgscale_policy_on_referenced_check
        CHECK (on_referenced IN ('error', 'cascade', 'keep'));

COMMENT ON COLUMN @extschema@.pgscale_policy.on_referenced IS
    'expired rows still referenced by a foreign key: error (touch nothing, report), cascade (delete the referencing rows first), keep (keep them)';

--
-- Blast-radius limits: the largest share of a table's rows one cleanup may
-- remove (NULL: pgscale.max_delete_fraction), and when a real cleanup of
-- the table last finished (NULL: never, so the first may catch up on the
-- table's history).  Tables cleaned under 0.1.0 have their last cleanup in
-- the log.
--
ALTER TABLE @extschema@.pgscale_policy
    ADD COLUMN max_delete_fraction real,
    ADD COLUMN cleaned_at timestamptz,
    ADD CONSTRAINT pgscale_policy_max_delete_fraction_check
        CHECK (max_delete_fraction > 0 AND max_delete_fraction <= 1);

COMMENT ON COLUMN @extschema@.pgscale_policy.max_delete_fraction IS
    'largest share of the table''s rows one cleanup may remove without force => true; NULL: pgscale.max_delete_fraction';
COMMENT ON COLUMN @extschema@.pgscale_policy.cleaned_at IS
    'when a real cleanup of the table last finished; NULL: never';

UPDATE @extschema@.pgscale_policy p
SET cleaned_at = (SELECT pg_catalog.max(l.logged_at) FROM @extschema@.pgscale_log l
                  WHERE l.relid OPERATOR(pg_catalog.=) p.table_name::pg_catalog.oid
                    AND l.action OPERATOR(pg_catalog.=) ANY ('{delete,drop_partition}'));

DROP FUNCTION @extschema@.pgscale_set_retention(regclass, interval, name);

CREATE FUNCTION @extschema@.pgscale_set_retention(
    relation regclass,
    retention interval,
    time_column name DEFAULT NULL,
    on_referenced text DEFAULT NULL,
    max_delete_fraction real DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_set_retention';

COMMENT ON FUNCTION @extschema@.pgscale_set_retention(regclass, interval, name, text, real) IS
    'keep the rows of a table for the given interval, judged by a date or timestamp column; on_referenced says what to do with expired rows other tables still reference, max_delete_fraction how much of the table one cleanup may remove';

DROP FUNCTION @extschema@.pgscale_cleanup(boolean, integer, regclass, integer);

CREATE FUNCTION @extschema@.pgscale_cleanup(
    dry_run boolean DEFAULT false,
    days integer DEFAULT NULL,
    relation regclass DEFAULT NULL,
    batch_size integer DEFAULT 10000,
    force boolean DEFAULT false)
RETURNS TABLE (
    table_name regclass,
    cutoff timestamptz,
    partitions_dropped integer,
    rows_deleted bigint,
    duration interval,
    reached_through text)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_cleanup';

COMMENT ON FUNCTION @extschema@.pgscale_cleanup(boolean, integer, regclass, integer, boolean) IS
    'delete expired rows and drop expired partitions of every table with a retention policy; one row per table touched, with the foreign key a cascade reached it through; force goes past the blast-radius limits';

DROP PROCEDURE @extschema@.pgscale_cleanup_proc(boolean, integer, regclass, integer);

CREATE PROCEDURE @extschema@.pgscale_cleanup_proc(
    dry_run boolean DEFAULT false,
    days integer DEFAULT NULL,
    relation regclass DEFAULT NULL,
    batch_size integer DEFAULT 10000,
    force boolean DEFAULT false)
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgscale_cleanup_proc';

COMMENT ON PROCEDURE @extschema@.pgscale_cleanup_proc(boolean, integer, regclass, integer, boolean) IS
    'pgscale_cleanup committing after every batch and every dropped partition';
-- Issue 12, item 3: who may read pgscale's tables.  A role sees the rows
-- of the tables it owns (or whose owning role it has the privileges of, as
-- PostgreSQL's ownership checks go), members of pg_monitor see every row;
-- rows of relations that no longer exist are for pg_monitor only.  The
-- extension owner, who owns these tables, writes them unrestricted (row
-- security does not apply to a table's owner), and so does a superuser.
--
ALTER TABLE @extschema@.pgscale_policy ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.pgscale_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.pgscale_size_history ENABLE ROW LEVEL SECURITY;

CREATE POLICY pgscale_policy_owner_read ON @extschema@.pgscale_policy
    FOR SELECT TO PUBLIC
    USING (pg_catalog.pg_has_role('pg_monitor', 'USAGE')
           OR EXISTS (SELECT FROM pg_catalog.pg_class c
                      WHERE c.oid OPERATOR(pg_catalog.=) table_name::pg_catalog.oid
                        AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));

CREATE POLICY pgscale_log_owner_read ON @extschema@.pgscale_log
    FOR SELECT TO PUBLIC
    USING (pg_catalog.pg_has_role('pg_monitor', 'USAGE')
           OR EXISTS (SELECT FROM pg_catalog.pg_class c
                      WHERE c.oid OPERATOR(pg_catalog.=) relid
                        AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));

-- The size history names its tables (relid is stale after a restore).
CREATE POLICY pgscale_size_history_owner_read ON @extschema@.pgscale_size_history
    FOR SELECT TO PUBLIC
    USING (pg_catalog.pg_has_role('pg_monitor', 'USAGE')
           OR EXISTS (SELECT FROM pg_catalog.pg_class c
                      JOIN pg_catalog.pg_namespace n
                        ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                      WHERE n.nspname OPERATOR(pg_catalog.=) schema_name
                        AND c.relname OPERATOR(pg_catalog.=) table_name
                        AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));

--
-- Issue 12, item 16: an index's own age.  PostgreSQL keeps no creation
-- time; pgscale_unused_indexes() judges an index over the shorter of the
-- statistics' age and the time the index is known to have existed: since
-- the commit of its pg_class row when track_commit_timestamp is on, else
-- since pgscale first saw it.  This table is that record, filled when the
-- extension is created or updated and by every size snapshot (daily).
-- Index OIDs mean nothing after a restore (whose statistics start anew
-- anyway), so pg_dump does not keep it; a dropped index's row goes with it.
--
CREATE TABLE @extschema@.pgscale_index_seen (
    indexrelid  oid PRIMARY KEY,
    first_seen  timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE @extschema@.pgscale_index_seen IS
    'when pgscale first saw each index (the lower bound of its age that pgscale_unused_indexes() uses)';

INSERT INTO @extschema@.pgscale_index_seen (indexrelid)
SELECT i.indexrelid FROM pg_catalog.pg_index i;

GRANT SELECT ON @extschema@.pgscale_index_seen TO PUBLIC;
ALTER TABLE @extschema@.pgscale_index_seen ENABLE ROW LEVEL SECURITY;

CREATE POLICY pgscale_index_seen_owner_read ON @extschema@.pgscale_index_seen
    FOR SELECT TO PUBLIC
    USING (pg_catalog.pg_has_role('pg_monitor', 'USAGE')
           OR EXISTS (SELECT FROM pg_catalog.pg_class c
                      WHERE c.oid OPERATOR(pg_catalog.=) indexrelid
                        AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));

-- Forget dropped indexes at once, so that a new index that gets the OID
-- of a dropped one is not taken for old.  Runs as the extension owner.
CREATE FUNCTION @extschema@.pgscale_forget_indexes()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.pgscale_index_seen s
    USING pg_catalog.pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
      AND d.objsubid = 0
      AND d.objid = s.indexrelid;
END
$$;

CREATE EVENT TRIGGER pgscale_forget_indexes ON sql_drop
    WHEN TAG IN ('DROP INDEX', 'DROP TABLE', 'DROP SCHEMA', 'DROP OWNED',
                 'ALTER TABLE')
    EXECUTE FUNCTION @extschema@.pgscale_forget_indexes();

--
-- Issue 22, item 6: a data-only restore (pg_dump --data-only, pg_restore
-- --data-only) into a database whose table already has a policy.  The
-- restored row is refused with an error that names the table, rather than
-- by the primary key (whose message shows an OID) or, worse, by replacing
-- the policy in place: a shorter retention taken from a dump would delete
-- rows the database keeps on purpose.  A row that brings its own
-- created_at is one copied from elsewhere (pg_dump writes every column;
-- pgscale's own upserts leave created_at to its default, now()).
--
CREATE FUNCTION @extschema@.pgscale_policy_refuse_duplicate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kept @extschema@.pgscale_policy;
BEGIN
    IF NEW.created_at IS NOT DISTINCT FROM pg_catalog.now() THEN
        RETURN NEW;
    END IF;
    SELECT * INTO kept FROM @extschema@.pgscale_policy p
    WHERE p.table_name OPERATOR(pg_catalog.=) NEW.table_name;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'table % already has a pgscale policy', NEW.table_name
        USING ERRCODE = 'unique_violation',
              DETAIL = format('The policy in place keeps %s; the row being restored keeps %s.',
                              CASE WHEN kept.protected THEN 'the table forever'
                                   WHEN kept.retention IS NULL THEN 'no retention'
                                   ELSE kept.retention::pg_catalog.text END,
                              CASE WHEN NEW.protected THEN 'the table forever'
                                   WHEN NEW.retention IS NULL THEN 'no retention'
                                   ELSE NEW.retention::pg_catalog.text END),
              HINT = 'To take the restored policy, remove the one in place with pgscale_remove_policy() and restore the data of pgscale_policy again; to keep it, leave pgscale_policy out of the restore (pg_restore -L).';
END
$$;

CREATE TRIGGER pgscale_policy_refuse_duplicate
    BEFORE INSERT ON @extschema@.pgscale_policy
    FOR EACH ROW EXECUTE FUNCTION @extschema@.pgscale_policy_refuse_duplicate();

--
-- Issue 20: compliance and job state per policy.  One row per policy the
-- caller sees (pgscale_policy's row security: pg_monitor sees all, a role
-- the policies of its own tables).  The oldest row is found cheaply (see
-- oldest_row_source); a locked table is reported with NULLs, never waited
-- for.
--
CREATE FUNCTION @extschema@.pgscale_policy_status()
RETURNS TABLE (
    table_name              regclass,
    enabled                 boolean,
    retention               interval,
    time_column             name,
    oldest_row              timestamptz,
    oldest_row_age          interval,
    oldest_row_source       text,
    compliant               boolean,
    last_run                timestamptz,
    last_success            timestamptz,
    last_error              text,
    last_error_at           timestamptz,
    consecutive_failures    integer,
    rows_removed_30d        bigint,
    partitions_removed_30d  integer,
    months_ahead            integer,
    default_rows            bigint,
    partition_gaps          integer,
    next_run                timestamptz)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_policy_status';

COMMENT ON FUNCTION @extschema@.pgscale_policy_status() IS
    'per policy: whether the table keeps to its retention, and how its maintenance goes';
