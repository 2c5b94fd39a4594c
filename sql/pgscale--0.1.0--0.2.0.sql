/* pgscale 0.1.0 -> 0.2.0 */

\echo Use "ALTER EXTENSION pgscale UPDATE TO '0.2.0'" to load this file. \quit

--
-- A fresh CREATE EXTENSION pgscale installs 0.1.0 and runs this script, so
-- every change of 0.2.0 lives here once; sql/upgrade.sql checks that an
-- updated install has exactly the objects of a fresh one.
--

--
-- A policy's time column is bound by attribute number.
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
    max_delete_fraction real DEFAULT NULL,
    action text DEFAULT NULL,
    archive_schema name DEFAULT NULL,
    archive_keep interval DEFAULT NULL,
    vacuum_after_purge boolean DEFAULT NULL,
    compress_after interval DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_set_retention';

COMMENT ON FUNCTION @extschema@.pgscale_set_retention(regclass, interval, name, text, real, text, name, interval, boolean, interval) IS
    'keep the rows of a table for the given interval, judged by a date or timestamp column; on_referenced says what to do with expired rows other tables still reference, max_delete_fraction how much of the table one cleanup may remove; action ''archive'' moves expired data to archive_schema instead of deleting it, kept there for archive_keep; vacuum_after_purge overrides pgscale.vacuum_after_purge for this table; compress_after converts the months wholly older than that to the columnar access method (citus_columnar), 0 stops it';

DROP FUNCTION @extschema@.pgscale_cleanup(boolean, integer, regclass, integer);

CREATE FUNCTION @extschema@.pgscale_cleanup(
    dry_run boolean DEFAULT false,
    days integer DEFAULT NULL,
    relation regclass DEFAULT NULL,
    batch_size integer DEFAULT 10000,
    force boolean DEFAULT false,
    respect_window boolean DEFAULT false)
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

COMMENT ON FUNCTION @extschema@.pgscale_cleanup(boolean, integer, regclass, integer, boolean, boolean) IS
    'delete expired rows and drop expired partitions of every table with a retention policy; one row per table touched, with the foreign key a cascade reached it through; force goes past the blast-radius limits; respect_window purges only inside pgscale.maintenance_window';

DROP PROCEDURE @extschema@.pgscale_cleanup_proc(boolean, integer, regclass, integer);

CREATE PROCEDURE @extschema@.pgscale_cleanup_proc(
    dry_run boolean DEFAULT false,
    days integer DEFAULT NULL,
    relation regclass DEFAULT NULL,
    batch_size integer DEFAULT 10000,
    force boolean DEFAULT false,
    respect_window boolean DEFAULT false,
    reclaim boolean DEFAULT false)
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgscale_cleanup_proc';

COMMENT ON PROCEDURE @extschema@.pgscale_cleanup_proc(boolean, integer, regclass, integer, boolean, boolean, boolean) IS
    'pgscale_cleanup committing after every batch and every dropped partition; reclaim compacts what the purge freed (pgscale_reclaim)';

-- The maintenance cycle takes respect_window too
-- (what a pg_cron job passes to purge only inside
-- pgscale.maintenance_window; the background worker always does).
DROP FUNCTION @extschema@.pgscale_run_maintenance(boolean);

CREATE FUNCTION @extschema@.pgscale_run_maintenance(
    dry_run boolean DEFAULT false,
    respect_window boolean DEFAULT false)
RETURNS TABLE (
    table_name regclass,
    action text,
    object_name text,
    rows bigint,
    detail text)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_run_maintenance';

COMMENT ON FUNCTION @extschema@.pgscale_run_maintenance(boolean, boolean) IS
    'one maintenance cycle: premake partitions, enforce retention (only inside pgscale.maintenance_window with respect_window), analyze, snapshot sizes, prune the log';

DROP PROCEDURE @extschema@.pgscale_run_maintenance_proc(boolean);

CREATE PROCEDURE @extschema@.pgscale_run_maintenance_proc(
    dry_run boolean DEFAULT false,
    respect_window boolean DEFAULT false)
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgscale_run_maintenance_proc';

COMMENT ON PROCEDURE @extschema@.pgscale_run_maintenance_proc(boolean, boolean) IS
    'pgscale_run_maintenance with a transaction per policy and per batch';
-- Who may read pgscale's tables.  A role sees the rows
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
-- An index's own age.  PostgreSQL keeps no creation
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
-- A data-only restore (pg_dump --data-only, pg_restore
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
-- The report as one self-contained HTML page: the monitoring checklist at a
-- glance, for a browser.  psql -Atc 'SELECT pgscale_report_html()' > report.html
-- No script, no external file: the charts are inline SVG, the style is in
-- the page.  Every name and text from the database goes through
-- pgscale_html_text(), so a table called <script> shows as text.
--
CREATE FUNCTION @extschema@.pgscale_html_text(t text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
               COALESCE(t, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;

COMMENT ON FUNCTION @extschema@.pgscale_html_text(text) IS
    'text escaped for HTML (& < > " and ''), as pgscale_report_html() writes every name';

CREATE FUNCTION @extschema@.pgscale_report_html()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $report$
DECLARE
    page text;
    part text;
    r record;
    n integer;
    -- chart geometry: a plot of W x H inside margins of M
    w constant integer := 640;
    h constant integer := 180;
    m constant integer := 48;
    x0 double precision;
    x1 double precision;
    ymax double precision;
BEGIN
    page := '<!DOCTYPE html>' || E'\n'
        || '<html lang="en"><head><meta charset="utf-8">'
        || '<title>pgscale report: ' || @extschema@.pgscale_html_text(current_database()) || '</title>'
        || '<style>'
        || 'body{font-family:sans-serif;margin:2em;max-width:72em;color:#222}'
        || 'h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}'
        || 'table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}'
        || 'th{background:#f4f4f4}code{font-size:.9em;background:#f6f6f6;padding:0 .2em}'
        || '.now,.critical,.no{color:#b00020;font-weight:bold}.plan,.warn{color:#a05a00;font-weight:bold}.ok,.yes{color:#1b5e20}'
        || 'svg.chart{background:#fafafa;border:1px solid #ddd;margin:.3em 0 1em 0}'
        || '.history{fill:none;stroke:#1565c0;stroke-width:2}.forecast{stroke:#1565c0;stroke-width:2;stroke-dasharray:6 4}'
        || '.steady{stroke:#2e7d32;stroke-width:1.5;stroke-dasharray:2 3}.bar{fill:#6a1b9a}.axis{stroke:#999}'
        || 'svg text{font-size:11px;fill:#555}'
        || '</style></head><body>' || E'\n'
        || format('<h1>pgscale report: database %s</h1><p>%s, PostgreSQL %s</p>',
                  @extschema@.pgscale_html_text(current_database()),
                  @extschema@.pgscale_html_text(to_char(now(), 'YYYY-MM-DD HH24:MI TZ')),
                  @extschema@.pgscale_html_text(current_setting('server_version'))) || E'\n';

    -- the scaling tier and what to do next
    part := '';
    n := 0;
    FOR r IN SELECT * FROM @extschema@.pgscale_scaling_advice() a
             WHERE a.verdict IN ('now', 'plan') ORDER BY a.tier, a.verdict DESC
    LOOP
        part := part || format('<tr><td>%s</td><td>%s</td><td>%s</td><td class="%s">%s</td><td>%s</td></tr>',
                               r.tier, @extschema@.pgscale_html_text(r.tier_name),
                               @extschema@.pgscale_html_text(r.action), r.verdict, r.verdict,
                               @extschema@.pgscale_html_text(r.measured));
        n := n + 1;
    END LOOP;
    page := page || '<section id="tier"><h2>Scaling tier</h2>'
        || CASE WHEN n = 0 THEN '<p>Nothing to do now or to plan: the current tier holds.</p>'
                ELSE '<table><tr><th>tier</th><th>name</th><th>action</th><th>verdict</th><th>because</th></tr>'
                     || part || '</table>' END
        || '</section>' || E'\n';

    -- size history per large table: the snapshots, the forecast line and,
    -- where a retention applies, the size it levels off at
    page := page || '<section id="growth"><h2>Table sizes</h2>'
        || '<p>The largest tables with size snapshots: solid, the snapshots; dashed, '
        || 'the forecast 90 days ahead (pgscale_growth_forecast); dotted, where a retention '
        || 'makes the table level off at its growth rate.</p>';
    n := 0;
    FOR r IN
        SELECT f.*, p.retention,
               extract(epoch FROM f.first_snapshot) AS t_first,
               extract(epoch FROM f.last_snapshot) AS t_last,
               extract(epoch FROM f.last_snapshot + interval '90 days') AS t_end,
               CASE WHEN p.retention IS NOT NULL AND NOT p.protected AND f.bytes_per_day > 0
                    THEN f.bytes_per_day * extract(epoch FROM p.retention) / 86400 END AS steady
        FROM @extschema@.pgscale_growth_forecast('90 days') f
        LEFT JOIN @extschema@.pgscale_policy p
               ON p.table_name::oid OPERATOR(pg_catalog.=)
                  to_regclass(quote_ident(f.schema_name) || '.' || quote_ident(f.table_name))::oid
        WHERE f.samples >= 2
        ORDER BY f.current_bytes DESC NULLS LAST, f.schema_name, f.table_name
        LIMIT 8
    LOOP
        x0 := r.t_first;
        x1 := greatest(r.t_end, x0 + 1);
        SELECT greatest(max(s.total_bytes), r.forecast_bytes, r.steady, 1)
          INTO ymax
          FROM @extschema@.pgscale_size_history s
         WHERE s.schema_name = r.schema_name AND s.table_name = r.table_name;
        page := page || format('<h3>%s</h3>', @extschema@.pgscale_html_text(
                                   quote_ident(r.schema_name) || '.' || quote_ident(r.table_name)))
            || format('<svg class="chart" data-table="%s" width="%s" height="%s" viewBox="0 0 %s %s" role="img">',
                      @extschema@.pgscale_html_text(r.schema_name || '.' || r.table_name),
                      w + 2 * m, h + 2 * m, w + 2 * m, h + 2 * m)
            || format('<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/><line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>',
                      m, m + h, m + w, m + h, m, m, m, m + h)
            || format('<text x="%s" y="%s">%s</text><text x="%s" y="%s">0</text>',
                      2, m, pg_size_pretty(ymax::bigint), 2, m + h)
            || format('<text x="%s" y="%s">%s</text><text x="%s" y="%s" text-anchor="end">%s</text>',
                      m, m + h + 16, to_char(r.first_snapshot, 'YYYY-MM-DD'),
                      m + w, m + h + 16, to_char(r.last_snapshot + interval '90 days', 'YYYY-MM-DD'))
            || (SELECT format('<polyline class="history" data-points="%s" points="%s"/>',
                              count(*),
                              string_agg(format('%s,%s',
                                                round((m + w * (extract(epoch FROM s.taken_at) - x0) / (x1 - x0))::numeric, 1),
                                                round((m + h - h * s.total_bytes / ymax)::numeric, 1)),
                                         ' ' ORDER BY s.taken_at))
                  FROM @extschema@.pgscale_size_history s
                 WHERE s.schema_name = r.schema_name AND s.table_name = r.table_name
                   AND s.total_bytes IS NOT NULL)
            || CASE WHEN r.forecast_bytes IS NOT NULL THEN
                   format('<line class="forecast" x1="%s" y1="%s" x2="%s" y2="%s"><title>forecast: %s in 90 days</title></line>',
                          round((m + w * (r.t_last - x0) / (x1 - x0))::numeric, 1),
                          round((m + h - h * r.current_bytes / ymax)::numeric, 1),
                          round((m + w * (r.t_end - x0) / (x1 - x0))::numeric, 1),
                          round((m + h - h * r.forecast_bytes / ymax)::numeric, 1),
                          @extschema@.pgscale_html_text(r.forecast_size))
               ELSE '' END
            || CASE WHEN r.steady IS NOT NULL THEN
                   format('<line class="steady" x1="%s" y1="%s" x2="%s" y2="%s"><title>steady state with retention %s: %s</title></line>',
                          m, round((m + h - h * r.steady / ymax)::numeric, 1),
                          m + w, round((m + h - h * r.steady / ymax)::numeric, 1),
                          @extschema@.pgscale_html_text(r.retention::text),
                          pg_size_pretty(r.steady::bigint))
               ELSE '' END
            || '</svg>'
            || format('<p>now %s, %s a day over %s snapshots, in 90 days %s%s</p>',
                      pg_size_pretty(r.current_bytes),
                      coalesce(pg_size_pretty(r.bytes_per_day), 'unknown'), r.samples,
                      @extschema@.pgscale_html_text(r.forecast_size),
                      CASE WHEN r.steady IS NOT NULL
                           THEN format('; with its retention of %s it levels off near %s (dotted line)',
                                       @extschema@.pgscale_html_text(r.retention::text),
                                       pg_size_pretty(r.steady::bigint))
                           ELSE '' END);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        page := page || '<p>No size history yet: the worker takes a snapshot daily (or run <code>SELECT pgscale_snapshot_sizes()</code>).</p>';
    END IF;
    page := page || '</section>' || E'\n';

    -- rows removed, one bar per day of the last 30 with a removal
    SELECT count(*), max(d.rows), string_agg(d.day::text || '=' || d.rows, ' ' ORDER BY d.day)
      INTO r
      FROM (SELECT (l.logged_at AT TIME ZONE current_setting('TimeZone'))::date AS day,
                   sum(l.rows)::double precision AS rows
              FROM @extschema@.pgscale_log l
             WHERE l.action IN ('delete', 'drop') AND l.rows > 0
               AND l.logged_at > now() - interval '30 days'
             GROUP BY 1) d;
    page := page || '<section id="removed"><h2>Rows removed per day (last 30 days)</h2>';
    IF r.count = 0 THEN
        page := page || '<p>No rows removed in the last 30 days.</p>';
    ELSE
        page := page
            || format('<svg class="chart" data-table="" width="%s" height="%s" viewBox="0 0 %s %s" role="img">',
                      w + 2 * m, h + 2 * m, w + 2 * m, h + 2 * m)
            || format('<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>', m, m + h, m + w, m + h)
            || format('<text x="%s" y="%s">%s</text>', 2, m, round(r.max::numeric))
            || (SELECT string_agg(format('<rect class="bar" x="%s" y="%s" width="%s" height="%s"><title>%s: %s rows</title></rect>',
                                         round((m + (w / 30.0) * (29 - (current_date - d.day)))::numeric, 1),
                                         round((m + h - h * d.rows / r.max)::numeric, 1),
                                         round((w / 30.0 - 2)::numeric, 1),
                                         round((h * d.rows / r.max)::numeric, 1),
                                         d.day, round(d.rows::numeric)), '' ORDER BY d.day)
                  FROM (SELECT (l.logged_at AT TIME ZONE current_setting('TimeZone'))::date AS day,
                               sum(l.rows)::double precision AS rows
                          FROM @extschema@.pgscale_log l
                         WHERE l.action IN ('delete', 'drop') AND l.rows > 0
                           AND l.logged_at > now() - interval '30 days'
                         GROUP BY 1) d)
            || format('<text x="%s" y="%s">%s</text><text x="%s" y="%s" text-anchor="end">%s</text>',
                      m, m + h + 16, current_date - 29, m + w, m + h + 16, current_date)
            || '</svg>';
    END IF;
    page := page || '</section>' || E'\n';

    -- every policy's compliance (pgscale_policy_status)
    part := '';
    n := 0;
    FOR r IN SELECT s.*, p.protected
               FROM @extschema@.pgscale_policy_status() s
               JOIN @extschema@.pgscale_policy p ON p.table_name OPERATOR(pg_catalog.=) s.table_name
              ORDER BY s.table_name::text
    LOOP
        part := part || format('<tr><td>%s</td><td>%s</td><td class="%s">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>',
                               @extschema@.pgscale_html_text(r.table_name::text),
                               CASE WHEN r.protected THEN 'kept forever (protected)'
                                    WHEN r.retention IS NOT NULL
                                    THEN @extschema@.pgscale_html_text(format('%s by %s', r.retention, r.time_column))
                                    ELSE 'no retention' END,
                               CASE WHEN r.compliant THEN 'yes' WHEN NOT r.compliant THEN 'no' ELSE '' END,
                               CASE WHEN r.compliant THEN 'yes' WHEN NOT r.compliant THEN 'no' ELSE 'not judged' END,
                               CASE WHEN r.oldest_row_age IS NULL THEN coalesce(r.oldest_row_source, '')
                                    ELSE @extschema@.pgscale_html_text(format('%s (%s)',
                                             date_trunc('minute', r.oldest_row_age), r.oldest_row_source)) END,
                               coalesce(to_char(r.last_success, 'YYYY-MM-DD HH24:MI'), 'never'),
                               CASE WHEN r.consecutive_failures > 0
                                    THEN format('<span class="no">%s in a row</span>: %s', r.consecutive_failures,
                                                @extschema@.pgscale_html_text(r.last_error))
                                    ELSE 'none' END,
                               format('%s rows, %s partitions', r.rows_removed_30d, r.partitions_removed_30d),
                               CASE WHEN r.months_ahead IS NULL THEN ''
                                    ELSE format('%s ahead%s%s', r.months_ahead,
                                                CASE WHEN r.default_rows > 0 THEN format(', %s rows in default', r.default_rows) ELSE '' END,
                                                CASE WHEN r.partition_gaps > 0 THEN format(', %s gaps', r.partition_gaps) ELSE '' END) END,
                               coalesce(to_char(r.next_run, 'YYYY-MM-DD HH24:MI'), ''));
        n := n + 1;
    END LOOP;
    page := page || '<section id="compliance"><h2>Policies</h2>'
        || CASE WHEN n = 0
                THEN '<p>No policies: <code>SELECT pgscale_set_retention(''table'', ''365 days'', ''time_column'')</code>.</p>'
                ELSE '<table><tr><th>table</th><th>keeps</th><th>compliant</th><th>oldest row</th>'
                     || '<th>last success</th><th>failures</th><th>removed (30 days)</th><th>months</th><th>next run</th></tr>'
                     || part || '</table>' END
        || '</section>' || E'\n';

    -- indexes to drop, with their statements
    part := '';
    n := 0;
    FOR r IN
        SELECT 'unused' AS kind, quote_ident(u.schema_name) || '.' || quote_ident(u.index_name) AS index_name, u.index_size AS size, u.reason AS why,
               u.drop_statement, u.index_bytes
          FROM @extschema@.pgscale_unused_indexes() u
        UNION ALL
        SELECT d.kind, quote_ident(d.schema_name) || '.' || quote_ident(d.index_name), pg_size_pretty(d.index_bytes), 'covered by ' || d.covered_by::text,
               d.drop_statement, d.index_bytes
          FROM @extschema@.pgscale_duplicate_indexes() d
        ORDER BY index_bytes DESC NULLS LAST, index_name
        LIMIT 20
    LOOP
        part := part || format('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td></tr>',
                               @extschema@.pgscale_html_text(r.kind), @extschema@.pgscale_html_text(r.index_name),
                               @extschema@.pgscale_html_text(r.size), @extschema@.pgscale_html_text(r.why),
                               @extschema@.pgscale_html_text(r.drop_statement));
        n := n + 1;
    END LOOP;
    page := page || '<section id="indexes"><h2>Indexes to drop</h2>'
        || CASE WHEN n = 0 THEN '<p>None.</p>'
                ELSE '<table><tr><th>kind</th><th>index</th><th>size</th><th>why</th><th>statement</th></tr>'
                     || part || '</table>' END
        || '</section>' || E'\n';

    -- every health check that is not ok, with its advice
    part := '';
    n := 0;
    FOR r IN SELECT * FROM @extschema@.pgscale_health() c WHERE c.status <> 'ok'
             ORDER BY CASE c.status WHEN 'critical' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, c.check_name
    LOOP
        part := part || format('<tr><td class="%s">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>',
                               @extschema@.pgscale_html_text(r.status), @extschema@.pgscale_html_text(r.status),
                               @extschema@.pgscale_html_text(r.check_name), @extschema@.pgscale_html_text(r.value),
                               @extschema@.pgscale_html_text(r.threshold), @extschema@.pgscale_html_text(r.advice));
        n := n + 1;
    END LOOP;
    page := page || '<section id="health"><h2>Health checks that are not ok</h2>'
        || CASE WHEN n = 0 THEN '<p>Every check is ok.</p>'
                ELSE '<table><tr><th>status</th><th>check</th><th>value</th><th>threshold</th><th>advice</th></tr>'
                     || part || '</table>' END
        || '</section>' || E'\n';

    RETURN page || '</body></html>' || E'\n';
END
$report$;

COMMENT ON FUNCTION @extschema@.pgscale_report_html() IS
    'the report as one self-contained HTML page (inline SVG charts, no script): tier, table sizes with forecast and retention steady state, rows removed, policies, indexes to drop, health';
-- Compliance and job state per policy.  One row per policy the
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

--
-- What the metrics cannot measure cheaply on every poll (the
-- database's size, unused and duplicate index bytes: each a walk over
-- every relation), recorded by each size snapshot (pgscale_snapshot_sizes(),
-- daily from the maintenance cycle) beside the table sizes it takes.  One
-- row per snapshot; pgscale_metrics() reads the latest and exports its age.
--
CREATE TABLE @extschema@.pgscale_inventory (
    taken_at                timestamptz PRIMARY KEY,
    tables                  integer NOT NULL,
    database_bytes          bigint,
    unused_indexes          integer,
    unused_index_bytes      bigint,
    duplicate_indexes       integer,
    duplicate_index_bytes   bigint
);

COMMENT ON TABLE @extschema@.pgscale_inventory IS
    'per size snapshot: tables recorded, database size, unused and duplicate indexes with their bytes';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgscale_inventory', '');

GRANT SELECT ON @extschema@.pgscale_inventory TO PUBLIC;
-- Row security like every pgscale table, with one policy that shows every
-- row: a row is database-wide totals that any role can compute from the
-- statistics views and the size functions itself.
ALTER TABLE @extschema@.pgscale_inventory ENABLE ROW LEVEL SECURITY;

CREATE POLICY pgscale_inventory_read ON @extschema@.pgscale_inventory
    FOR SELECT TO PUBLIC
    USING (true);

--
-- Metrics for alerting: one row per sample, and the same in the Prometheus
-- text exposition format.  Per table only for the tables with a policy and
-- the largest ones, so the series stay few.  Cheap enough to poll: the
-- per-policy samples are live and exact (pgscale_policy_status(), which
-- waits on no lock: a locked table gives no oldest-row sample), the sizes
-- come from the latest snapshot in pgscale_inventory and
-- pgscale_size_history, with its age as a sample of its own.
--
CREATE FUNCTION @extschema@.pgscale_metrics()
RETURNS TABLE (
    metric  text,
    labels  jsonb,
    value   double precision,
    help    text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $metrics$
DECLARE
    r record;
    inv @extschema@.pgscale_inventory;
BEGIN
    -- each policy: compliance and how its maintenance goes
    FOR r IN SELECT s.*, pg_catalog.jsonb_build_object('table', s.table_name::text) AS l
             FROM @extschema@.pgscale_policy_status() s
    LOOP
        IF r.compliant IS NOT NULL THEN
            metric := 'pgscale_policy_compliant'; labels := r.l;
            value := CASE WHEN r.compliant THEN 1 ELSE 0 END;
            help := 'Whether the policy''s table keeps to its retention (1) or holds rows older than it allows (0).';
            RETURN NEXT;
        END IF;
        IF r.retention IS NOT NULL THEN
            metric := 'pgscale_policy_retention_seconds'; labels := r.l;
            value := extract(epoch FROM r.retention);
            help := 'The retention of the policy.';
            RETURN NEXT;
        END IF;
        IF r.oldest_row_age IS NOT NULL THEN
            metric := 'pgscale_policy_oldest_row_age_seconds';
            labels := r.l || pg_catalog.jsonb_build_object('source', r.oldest_row_source);
            value := extract(epoch FROM r.oldest_row_age);
            help := 'Age of the oldest row of the policy''s table, found from partition bounds, an index on the time column or a bounded sample (label source).';
            RETURN NEXT;
        END IF;
        metric := 'pgscale_policy_consecutive_failures'; labels := r.l;
        value := r.consecutive_failures;
        help := 'Runs of the policy that failed in a row, up to the latest.';
        RETURN NEXT;
        metric := 'pgscale_policy_last_success_age_seconds'; labels := r.l;
        value := CASE WHEN r.last_success IS NULL THEN 'Infinity'::double precision
                      ELSE extract(epoch FROM pg_catalog.now() - r.last_success) END;
        help := 'Time since the policy''s last run that succeeded (+Inf: never).';
        RETURN NEXT;
        metric := 'pgscale_policy_rows_removed_30d'; labels := r.l;
        value := r.rows_removed_30d;
        help := 'Rows deleted from the policy''s table in the last 30 days, partitions dropped included.';
        RETURN NEXT;
        metric := 'pgscale_policy_partitions_removed_30d'; labels := r.l;
        value := r.partitions_removed_30d;
        help := 'Partitions of the policy''s table dropped in the last 30 days.';
        RETURN NEXT;
        IF r.months_ahead IS NOT NULL THEN
            metric := 'pgscale_policy_premade_months'; labels := r.l;
            value := r.months_ahead;
            help := 'Months of partitions that exist ahead of the current one.';
            RETURN NEXT;
        END IF;
        IF r.default_rows IS NOT NULL THEN
            metric := 'pgscale_policy_default_partition_rows'; labels := r.l;
            value := r.default_rows;
            help := 'Rows in the default partition of the policy''s table.';
            RETURN NEXT;
        END IF;
        IF r.partition_gaps IS NOT NULL THEN
            metric := 'pgscale_policy_partition_gaps'; labels := r.l;
            value := r.partition_gaps;
            help := 'Gaps between the partitions of the policy''s table over its premade months.';
            RETURN NEXT;
        END IF;
    END LOOP;

    -- the background worker of this database
    FOR r IN SELECT w.* FROM @extschema@.pgscale_worker_status() w
             WHERE w.database = pg_catalog.current_database()
    LOOP
        metric := 'pgscale_worker_cycles_total';
        labels := pg_catalog.jsonb_build_object('database', r.database);
        value := r.cycles;
        help := 'Maintenance cycles the background worker ran in this database since the server started.';
        RETURN NEXT;
        metric := 'pgscale_worker_running';
        value := CASE WHEN r.running THEN 1 ELSE 0 END;
        help := 'Whether a cycle of the background worker is running now.';
        RETURN NEXT;
        IF r.last_end IS NOT NULL THEN
            metric := 'pgscale_worker_last_cycle_age_seconds';
            value := extract(epoch FROM pg_catalog.now() - r.last_end);
            help := 'Time since the background worker''s last cycle ended.';
            RETURN NEXT;
        END IF;
    END LOOP;
    metric := 'pgscale_worker_errors_24h';
    labels := pg_catalog.jsonb_build_object('database', pg_catalog.current_database());
    SELECT pg_catalog.count(*) INTO value FROM @extschema@.pgscale_log g
     WHERE g.source OPERATOR(pg_catalog.=) 'worker' AND g.action OPERATOR(pg_catalog.=) 'error'
       AND g.logged_at OPERATOR(pg_catalog.>) pg_catalog.now() - interval '24 hours';
    help := 'Errors the background worker logged in pgscale_log over the last 24 hours.';
    RETURN NEXT;

    -- sizes, from the latest snapshot (measuring every relation on each
    -- poll would cost more than all the rest); its age tells how old
    SELECT i.* INTO inv FROM @extschema@.pgscale_inventory i
     ORDER BY i.taken_at DESC LIMIT 1;
    metric := 'pgscale_snapshot_age_seconds';
    labels := pg_catalog.jsonb_build_object('database', pg_catalog.current_database());
    value := CASE WHEN inv.taken_at IS NULL THEN 'Infinity'::double precision
                  ELSE extract(epoch FROM pg_catalog.now() OPERATOR(pg_catalog.-) inv.taken_at) END;
    help := 'Time since the size snapshot (pgscale_snapshot_sizes(), daily from the maintenance cycle) that the table, database and unused or duplicate index sizes come from (+Inf: none yet).';
    RETURN NEXT;
    IF inv.taken_at IS NOT NULL THEN
        -- the largest tables (partitions summed at their parent)
        FOR r IN SELECT h.*, pg_catalog.jsonb_build_object(
                            'table', pg_catalog.quote_ident(h.schema_name) OPERATOR(pg_catalog.||) '.'
                                     OPERATOR(pg_catalog.||) pg_catalog.quote_ident(h.table_name)) AS l
                 FROM @extschema@.pgscale_size_history h
                 WHERE h.taken_at OPERATOR(pg_catalog.=) inv.taken_at
                 ORDER BY h.total_bytes DESC, h.schema_name, h.table_name
                 LIMIT 20
        LOOP
            metric := 'pgscale_table_bytes'; labels := r.l; value := r.table_bytes;
            help := 'Size of the table''s heap, TOAST excluded (the 20 largest tables, at the snapshot).';
            RETURN NEXT;
            metric := 'pgscale_table_index_bytes'; labels := r.l; value := r.index_bytes;
            help := 'Size of the table''s indexes (the 20 largest tables, at the snapshot).';
            RETURN NEXT;
            metric := 'pgscale_table_total_bytes'; labels := r.l; value := r.total_bytes;
            help := 'Size of the table with its indexes and TOAST (the 20 largest tables, at the snapshot).';
            RETURN NEXT;
        END LOOP;
        IF inv.database_bytes IS NOT NULL THEN
            metric := 'pgscale_database_bytes';
            labels := pg_catalog.jsonb_build_object('database', pg_catalog.current_database());
            value := inv.database_bytes;
            help := 'Size of this database, at the snapshot.';
            RETURN NEXT;
        END IF;

        -- indexes that cost space for nothing
        IF inv.unused_index_bytes IS NOT NULL THEN
            metric := 'pgscale_unused_index_bytes'; labels := '{}';
            value := inv.unused_index_bytes;
            help := 'Bytes of the indexes pgscale_unused_indexes() listed at the snapshot (some to verify before dropping).';
            RETURN NEXT;
        END IF;
        IF inv.duplicate_index_bytes IS NOT NULL THEN
            metric := 'pgscale_duplicate_index_bytes'; labels := '{}';
            value := inv.duplicate_index_bytes;
            help := 'Bytes of the indexes pgscale_duplicate_indexes() listed at the snapshot (made redundant by another).';
            RETURN NEXT;
        END IF;
    END IF;

    -- the server
    metric := 'pgscale_cache_hit_ratio';
    labels := pg_catalog.jsonb_build_object('database', pg_catalog.current_database());
    SELECT d.blks_hit::double precision
           OPERATOR(pg_catalog./) NULLIF(d.blks_hit OPERATOR(pg_catalog.+) d.blks_read, 0)
      INTO value
      FROM pg_catalog.pg_stat_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database();
    help := 'Share of this database''s block reads found in shared buffers since its statistics were reset.';
    IF value IS NOT NULL THEN
        RETURN NEXT;
    END IF;
    FOR r IN SELECT COALESCE(a.state, 'unknown') AS state, pg_catalog.count(*) AS n
             FROM pg_catalog.pg_stat_activity a
             WHERE a.backend_type OPERATOR(pg_catalog.=) 'client backend'
             GROUP BY 1
    LOOP
        metric := 'pgscale_connections';
        labels := pg_catalog.jsonb_build_object('state', r.state);
        value := r.n;
        help := 'Client connections to the server, by state.';
        RETURN NEXT;
    END LOOP;
    metric := 'pgscale_max_connections'; labels := '{}';
    value := pg_catalog.current_setting('max_connections')::double precision;
    help := 'The server''s max_connections.';
    RETURN NEXT;
    SELECT pg_catalog.age(d.datfrozenxid) AS xid, pg_catalog.mxid_age(d.datminmxid) AS mxid INTO r
      FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database();
    metric := 'pgscale_wraparound_age';
    help := 'Age of this database''s oldest unfrozen transaction ID (kind xid) or multixact (kind mxid); wraparound is at 2^31.';
    labels := pg_catalog.jsonb_build_object('database', pg_catalog.current_database(), 'kind', 'xid');
    value := r.xid;
    RETURN NEXT;
    labels := pg_catalog.jsonb_build_object('database', pg_catalog.current_database(), 'kind', 'mxid');
    value := r.mxid;
    RETURN NEXT;
END
$metrics$;

COMMENT ON FUNCTION @extschema@.pgscale_metrics() IS
    'metrics for alerting, one row per sample: policy compliance and runs, the worker, table and index sizes, unused and duplicate index bytes, cache hit ratio, connections, wraparound';

CREATE FUNCTION @extschema@.pgscale_metrics_text()
RETURNS text
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_metrics_text';

COMMENT ON FUNCTION @extschema@.pgscale_metrics_text() IS
    'pgscale_metrics() in the Prometheus text exposition format (# HELP, # TYPE, escaped label values)';

--
-- Archive instead of drop.  Action 'archive' moves what expires
-- into archive_schema instead of deleting it: whole expired partitions are
-- detached and moved there, expired rows are moved (DELETE ... RETURNING
-- into INSERT, one statement) into <archive_schema>.<table>, partitioned by
-- month.  archive_keep: how long archived months stay (NULL: forever).
--
ALTER TABLE @extschema@.pgscale_policy
    ADD COLUMN action text NOT NULL DEFAULT 'drop',
    ADD COLUMN archive_schema name,
    ADD COLUMN archive_keep interval,
    ADD CONSTRAINT pgscale_policy_action_check
        CHECK (action IN ('drop', 'archive')),
    ADD CONSTRAINT pgscale_policy_archive_check
        CHECK ((action = 'archive') = (archive_schema IS NOT NULL)
               AND (archive_keep IS NULL OR action = 'archive'));

COMMENT ON COLUMN @extschema@.pgscale_policy.action IS
    'what happens to expired data: drop (partitions dropped, rows deleted) or archive (moved to archive_schema)';
COMMENT ON COLUMN @extschema@.pgscale_policy.archive_schema IS
    'action archive: the schema archived partitions and rows go to';
COMMENT ON COLUMN @extschema@.pgscale_policy.archive_keep IS
    'action archive: how long archived months are kept (NULL: forever)';

-- Every archived piece.  The source table is recorded by name, not OID,
-- so that the catalog means the same after a dump and restore; pg_dump
-- keeps it.  An archived piece is known by its table's name (no sequence:
-- a table owner's pg_dump could not read one).  kind: 'partition' (a whole partition, moved as it was) or
-- 'rows' (one month partition of the archive table of rows).  rows of a
-- partition are the planner's estimate when it was archived; bytes as
-- measured then (pgscale_archived() measures again).
CREATE TABLE @extschema@.pgscale_archive (
    source_schema  name NOT NULL,
    source_table   name NOT NULL,
    archive_schema name NOT NULL,
    archive_table  name NOT NULL,
    kind           text NOT NULL,
    range_from     timestamptz,
    range_to       timestamptz,
    bound_from     text,
    bound_to       text,
    rows           bigint,
    bytes          bigint,
    archived_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT pgscale_archive_kind_check CHECK (kind IN ('partition', 'rows')),
    PRIMARY KEY (archive_schema, archive_table)
);

CREATE INDEX pgscale_archive_source_idx
    ON @extschema@.pgscale_archive (source_schema, source_table, range_from);

COMMENT ON TABLE @extschema@.pgscale_archive IS
    'what action archive moved out of tables: one row per archived partition or month of archived rows';
COMMENT ON COLUMN @extschema@.pgscale_archive.bound_from IS
    'lower bound as a literal of the time column''s type (for re-attaching)';
COMMENT ON COLUMN @extschema@.pgscale_archive.bound_to IS
    'upper bound as a literal of the time column''s type (for re-attaching)';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgscale_archive', '');

ALTER TABLE @extschema@.pgscale_archive ENABLE ROW LEVEL SECURITY;

-- A role sees the archived pieces of the tables whose owner's privileges
-- it has (judged by the archived table, which keeps the source's owner).
CREATE POLICY pgscale_archive_owner_read ON @extschema@.pgscale_archive
    FOR SELECT TO PUBLIC
    USING (pg_catalog.pg_has_role('pg_monitor', 'USAGE')
           OR EXISTS (SELECT FROM pg_catalog.pg_class c
                      JOIN pg_catalog.pg_namespace n
                        ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                      WHERE n.nspname OPERATOR(pg_catalog.=) archive_schema
                        AND c.relname OPERATOR(pg_catalog.=) archive_table
                        AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));

GRANT SELECT ON @extschema@.pgscale_archive TO PUBLIC;

CREATE FUNCTION @extschema@.pgscale_archived(relation regclass DEFAULT NULL)
RETURNS TABLE (
    source_table   text,
    archived_table text,
    kind           text,
    range_from     timestamptz,
    range_to       timestamptz,
    rows           bigint,
    bytes          bigint,
    archived_at    timestamptz,
    dump_command   text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.quote_ident(a.source_schema) || '.' || pg_catalog.quote_ident(a.source_table),
           pg_catalog.quote_ident(a.archive_schema) || '.' || pg_catalog.quote_ident(a.archive_table),
           a.kind, a.range_from, a.range_to, a.rows,
           COALESCE(pg_catalog.pg_total_relation_size(c.oid), a.bytes),
           a.archived_at,
           -- pg_dump -t takes a pattern: the name is quoted as an
           -- identifier (so that dots, capitals and wildcards mean
           -- themselves), then the whole as a shell word
           'pg_dump --format=custom --table='
           || '''' || pg_catalog.replace(
                  pg_catalog.quote_ident(a.archive_schema) || '.' || pg_catalog.quote_ident(a.archive_table),
                  '''', '''\''''') || ''''
           || ' --file=' || '''' || pg_catalog.replace(
                  a.archive_schema || '.' || a.archive_table || '.dump', '''', '''\''''') || ''''
           || ' ' || '''' || pg_catalog.replace(pg_catalog.current_database(), '''', '''\''''') || ''''
      FROM @extschema@.pgscale_archive a
      LEFT JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) a.archive_schema
      LEFT JOIN pg_catalog.pg_class c
        ON c.relnamespace OPERATOR(pg_catalog.=) n.oid AND c.relname OPERATOR(pg_catalog.=) a.archive_table
     WHERE $1 IS NULL
        OR (a.source_schema, a.source_table) OPERATOR(pg_catalog.=)
           (SELECT sn.nspname, sc.relname FROM pg_catalog.pg_class sc
              JOIN pg_catalog.pg_namespace sn ON sn.oid OPERATOR(pg_catalog.=) sc.relnamespace
             WHERE sc.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid)
     ORDER BY a.source_schema, a.source_table, a.range_from, a.archive_table
$$;

COMMENT ON FUNCTION @extschema@.pgscale_archived(regclass) IS
    'the archived partitions and months of rows (of one table, or of all), their size, and a pg_dump command line for each, quoted for a POSIX shell';

CREATE FUNCTION @extschema@.pgscale_restore_archive(
    relation regclass,
    from_date timestamptz,
    to_date timestamptz,
    batch_size integer DEFAULT 10000)
RETURNS TABLE (
    archived_table text,
    kind           text,
    rows           bigint,
    detail         text)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_restore_archive';

COMMENT ON FUNCTION @extschema@.pgscale_restore_archive(regclass, timestamptz, timestamptz, integer) IS
    'put archived data of [from_date, to_date) back: archived partitions re-attached, archived rows moved back in batches; refused while the range is outside the retention';

--
-- Giving the space of purged rows back online (src/reclaim.c): what each
-- table could return, and the compaction that returns it.  A policy may
-- override pgscale.vacuum_after_purge (the VACUUM after a purge).
--
ALTER TABLE @extschema@.pgscale_policy ADD COLUMN vacuum_after_purge boolean;

COMMENT ON COLUMN @extschema@.pgscale_policy.vacuum_after_purge IS
    'whether the procedure forms and the worker VACUUM this table after purging it; NULL: as pgscale.vacuum_after_purge says';

-- Compression of old months (src/compress.c): partitions wholly older than
-- compress_after (and wholly inside the retention) converted to columnar.
ALTER TABLE @extschema@.pgscale_policy ADD COLUMN compress_after interval;

ALTER TABLE @extschema@.pgscale_policy
    ADD CONSTRAINT pgscale_policy_compress_after_check
        CHECK (compress_after > '0'::interval
               AND (retention IS NULL OR compress_after < retention));

COMMENT ON COLUMN @extschema@.pgscale_policy.compress_after IS
    'partitions wholly older than this, and wholly inside the retention, are converted to the columnar access method by the procedure forms and the worker; NULL: never';

CREATE FUNCTION @extschema@.pgscale_space_reclaimable(relation regclass DEFAULT NULL)
RETURNS TABLE (
    table_name       regclass,
    file_bytes       bigint,
    reusable_bytes   bigint,
    returnable_bytes bigint)
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgscale_space_reclaimable';

COMMENT ON FUNCTION @extschema@.pgscale_space_reclaimable(regclass) IS
    'per plain table the caller may read: file size, free space recorded in its free space map, and what pgscale_reclaim could return; never waits on a lock';

CREATE PROCEDURE @extschema@.pgscale_reclaim(
    relation regclass,
    max_duration interval DEFAULT NULL,
    dry_run boolean DEFAULT false,
    allow_replicated boolean DEFAULT false)
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgscale_reclaim';

COMMENT ON PROCEDURE @extschema@.pgscale_reclaim(regclass, interval, boolean, boolean) IS
    'online compaction: moves the rows of the last pages into free space earlier in the table in short ROW EXCLUSIVE transactions, then VACUUM truncates the emptied tail';

--
-- Partition retention in the procedure forms detaches an expired partition
-- with ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY over a loopback
-- connection, then drops the detached tables together at the end of the
-- table's run.  Each detach is recorded here, committed before it starts,
-- so that a crash or a cancel at any point leaves a record: the next run
-- of the table reconciles every row (finishes a detach left pending with
-- DETACH PARTITION ... FINALIZE, drops or archives a table it detached,
-- forgets one that is still attached or gone).  A row says what becomes of
-- the table (action: drop, or archive into archive_schema) and carries the
-- partition's bounds that archiving records, so that a crash between the
-- detach and the move never turns an archive into a drop.  A row names its
-- table by schema and name, as pgscale_archive does, not by OID: pg_dump
-- keeps the rows, and after a restore the next run still finds the
-- detached table and finishes it.
--
CREATE TABLE @extschema@.pgscale_detached (
    rel_schema     name NOT NULL,
    rel_name       name NOT NULL,
    table_name     regclass NOT NULL,
    bound          text NOT NULL,
    action         text NOT NULL DEFAULT 'drop',
    archive_schema name,
    bound_from     bigint,
    bound_to       bigint,
    recorded_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (rel_schema, rel_name),
    CONSTRAINT pgscale_detached_action_check
        CHECK (action IN ('drop', 'archive')),
    CONSTRAINT pgscale_detached_archive_check
        CHECK ((action = 'archive') = (archive_schema IS NOT NULL)
               AND (action = 'drop' OR bound_to IS NOT NULL))
);

COMMENT ON TABLE @extschema@.pgscale_detached IS
    'expired partitions being detached concurrently or detached and not yet dropped: the next run of their table finishes them';

COMMENT ON COLUMN @extschema@.pgscale_detached.table_name IS
    'the policy''s table whose run detached the partition';
COMMENT ON COLUMN @extschema@.pgscale_detached.action IS
    'what the next run does with the detached table: drop it, or archive it into archive_schema';
COMMENT ON COLUMN @extschema@.pgscale_detached.bound_from IS
    'lower bound of the partition as microseconds of the time column read as timestamp (timestamptz for timestamptz columns); NULL: MINVALUE';
COMMENT ON COLUMN @extschema@.pgscale_detached.bound_to IS
    'upper bound of the partition, as bound_from';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.pgscale_detached', '');

GRANT SELECT ON @extschema@.pgscale_detached TO PUBLIC;
ALTER TABLE @extschema@.pgscale_detached ENABLE ROW LEVEL SECURITY;

CREATE POLICY pgscale_detached_owner_read ON @extschema@.pgscale_detached
    FOR SELECT TO PUBLIC
    USING (pg_catalog.pg_has_role('pg_monitor', 'USAGE')
           OR EXISTS (SELECT FROM pg_catalog.pg_class c
                      WHERE c.oid OPERATOR(pg_catalog.=) table_name::pg_catalog.oid
                        AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));

--
-- The catalog tables live in schema pgscale, whatever schema the extension
-- is created in (as pg_cron's live in cron).  pg_dump writes their rows as
-- COPY into the table's schema: a fixed schema lets a dump load into a
-- database where pgscale was created in another schema than at the source
-- (a managed service that preinstalls extensions in their own schema).
-- The extension's schema keeps a view of each, under the same name, so
-- that queries of 0.1.0 (SELECT * FROM pgscale_log) keep working; the
-- views run with the caller's rights (security_invoker), so the tables'
-- row-level security decides what each role sees, as before.  A schema
-- named pgscale that is not the extension's is refused: pgscale writes
-- its tables as their owner and cannot share a schema other roles own.
-- (The views list the tables' columns as of now: an update that adds a
-- column to one of the tables recreates its view.)
--
DO $catalog$
DECLARE
    ext_schema oid := (SELECT e.extnamespace FROM pg_catalog.pg_extension e
                       WHERE e.extname OPERATOR(pg_catalog.=) 'pgscale');
    catalog_schema oid := pg_catalog.to_regnamespace('pgscale');
    ext_name text := ext_schema::pg_catalog.regnamespace::text;
    tables text[] := ARRAY['pgscale_policy', 'pgscale_log', 'pgscale_size_history',
                           'pgscale_index_seen', 'pgscale_inventory', 'pgscale_archive',
                           'pgscale_detached'];
    t text;
    v text;
BEGIN
    IF catalog_schema OPERATOR(pg_catalog.=) ext_schema THEN
        RETURN;
    END IF;
    IF catalog_schema IS NOT NULL THEN
        RAISE EXCEPTION 'schema "pgscale" already exists'
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = 'pgscale keeps its catalog tables in schema pgscale.',
                  HINT = 'Rename that schema, or create the extension in it: CREATE EXTENSION pgscale SCHEMA pgscale.';
    END IF;
    CREATE SCHEMA pgscale;
    GRANT USAGE ON SCHEMA pgscale TO PUBLIC;
    COMMENT ON SCHEMA pgscale IS 'the catalog tables of extension pgscale; its functions and a view of each table are in the schema it was created in';
    -- pgscale's own event triggers would see its tables move: not now
    ALTER EVENT TRIGGER pgscale_follow_columns DISABLE;
    ALTER EVENT TRIGGER pgscale_forget_columns DISABLE;
    ALTER EVENT TRIGGER pgscale_forget_indexes DISABLE;
    FOREACH t IN ARRAY tables
    LOOP
        EXECUTE 'ALTER TABLE ' OPERATOR(pg_catalog.||) ext_name OPERATOR(pg_catalog.||) '.'
                OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t) OPERATOR(pg_catalog.||) ' SET SCHEMA pgscale';
        v := ext_name OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t);
        EXECUTE 'CREATE VIEW ' OPERATOR(pg_catalog.||) v
                OPERATOR(pg_catalog.||) ' WITH (security_invoker = true) AS SELECT * FROM pgscale.'
                OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t);
        EXECUTE 'GRANT SELECT ON ' OPERATOR(pg_catalog.||) v OPERATOR(pg_catalog.||) ' TO PUBLIC';
        EXECUTE 'COMMENT ON VIEW ' OPERATOR(pg_catalog.||) v OPERATOR(pg_catalog.||) ' IS '
                OPERATOR(pg_catalog.||) pg_catalog.quote_literal(
                    'the rows of pgscale.' OPERATOR(pg_catalog.||) t
                    OPERATOR(pg_catalog.||) ' that the caller may see: '
                    OPERATOR(pg_catalog.||) coalesce(pg_catalog.obj_description(
                        ('pgscale.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t))::pg_catalog.regclass,
                        'pg_class'), ''));
    END LOOP;
    ALTER EVENT TRIGGER pgscale_follow_columns ENABLE;
    ALTER EVENT TRIGGER pgscale_forget_columns ENABLE;
    ALTER EVENT TRIGGER pgscale_forget_indexes ENABLE;
END
$catalog$;
