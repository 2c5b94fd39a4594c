--
-- Action 'archive': expired partitions and rows moved into an archive
-- schema instead of deleted, on plain, partitioned and straddling cases;
-- the settings and their refusals; ownership and grants; odd names; a
-- hostile search_path; pgscale_archived(); restore; archive_keep.
--
SET client_min_messages = warning;
SET TimeZone = 'UTC';
CREATE EXTENSION IF NOT EXISTS pgscale;

CREATE ROLE regress_arch_owner;
CREATE ROLE regress_arch_reader;
GRANT CREATE ON DATABASE contrib_regression TO regress_arch_owner;
CREATE SCHEMA "Arch Src" AUTHORIZATION regress_arch_owner;
SET search_path = "Arch Src", public;
SET ROLE regress_arch_owner;

-- a plain table with an identity, a generated and a dropped column
CREATE TABLE "Odd ""Plain"" Tbl" (
    id bigint GENERATED ALWAYS AS IDENTITY,
    gone int,
    at timestamptz NOT NULL,
    v int,
    twice int GENERATED ALWAYS AS (v * 2) STORED);
ALTER TABLE "Odd ""Plain"" Tbl" DROP COLUMN gone;
INSERT INTO "Odd ""Plain"" Tbl" (at, v)
SELECT now() - make_interval(hours => g * 6), g FROM generate_series(0, 1199) g;
GRANT SELECT ON "Odd ""Plain"" Tbl" TO regress_arch_reader;

-- bad settings
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days', 'at', action => 'move');
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days', 'at', archive_keep => '1 year');
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days', 'at', archive_schema => 'x');
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days', 'at', action => 'archive',
                             archive_schema => 'pg_catalog');
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days', 'at', action => 'archive',
                             archive_schema => 'Arch Src');
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days', 'at', action => 'archive',
                             archive_keep => '0 days');
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days', 'at', action => 'archive',
                             archive_keep => '-1 month');
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days', 'at', action => 'archive',
                             on_referenced => 'cascade');
SELECT count(*) AS policies FROM pgscale_policy;

SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days', 'at', action => 'archive',
                             archive_schema => 'Arch "Dst"');
SELECT action, archive_schema, archive_keep FROM pgscale_policy;
-- setting again without them keeps them
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '101 days');
SELECT action, archive_schema, archive_keep FROM pgscale_policy;
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '100 days');

CREATE TEMP TABLE before AS
SELECT count(*) FILTER (WHERE at < now() - interval '100 days') AS expired,
       count(*) FILTER (WHERE at >= now() - interval '100 days') AS kept,
       sum(v) AS vsum
  FROM "Odd ""Plain"" Tbl";

-- the dry run counts what the real run moves, and creates nothing
SELECT d.rows_deleted = b.expired AS dry_equal
  FROM pgscale_cleanup(dry_run => true) d, before b;
SELECT count(*) AS archive_schemas FROM pg_namespace WHERE nspname = 'Arch "Dst"';

-- a hostile search_path: an operator that would expire every row
RESET ROLE;
CREATE SCHEMA evil;
CREATE FUNCTION evil.always(timestamptz, timestamptz) RETURNS boolean
    LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.always);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
SET ROLE regress_arch_owner;
SET search_path = evil, "Arch Src", pg_catalog, public;

SELECT c.rows_deleted = b.expired AS moved_all
  FROM pgscale_cleanup() c, before b;
SET search_path = "Arch Src", public;

-- nothing expired is left, nothing kept is gone, every moved row is archived
SELECT count(*) FILTER (WHERE at < now() - interval '100 days') = 0 AS none_expired,
       count(*) = (SELECT kept FROM before) AS kept_all
  FROM "Odd ""Plain"" Tbl";
SELECT a.n = b.expired AS archived_all,
       a.vsum + (SELECT sum(v) FROM "Odd ""Plain"" Tbl") = b.vsum AS same_rows,
       a.twice_ok
  FROM (SELECT count(*) AS n, sum(v) AS vsum, bool_and(twice = v * 2) AS twice_ok
          FROM "Arch ""Dst"""."Odd ""Plain"" Tbl") a, before b;
-- owned by the table's owner, the table's grants
SELECT pg_get_userbyid(nspowner) AS schema_owner FROM pg_namespace WHERE nspname = 'Arch "Dst"';
SELECT pg_get_userbyid(relowner) AS archive_owner, relkind
  FROM pg_class WHERE oid = '"Arch ""Dst"""."Odd ""Plain"" Tbl"'::regclass;
SELECT has_table_privilege('regress_arch_reader', '"Arch ""Dst"""."Odd ""Plain"" Tbl"', 'SELECT') AS reader_may_read;
-- one catalog row per month, the rows adding up
SELECT bool_and(kind = 'rows') AS all_rows, sum(rows) = (SELECT expired FROM before) AS rows_add_up,
       count(*) = count(DISTINCT archive_table) AS distinct_names
  FROM pgscale_archive;
SELECT count(*) FILTER (WHERE action = 'archive') AS archive_logged,
       count(*) FILTER (WHERE action = 'delete') AS delete_logged
  FROM pgscale_log;
-- a second run moves nothing more
SELECT rows_deleted FROM pgscale_cleanup();

-- pgscale_archived: one line per month, a pg_dump command quoted for a shell
SELECT count(*) = (SELECT count(*) FROM pgscale_archive) AS listed,
       bool_and(dump_command LIKE 'pg_dump --format=custom --table=''"Arch ""Dst"""."Odd ""Plain"" Tbl_rows_%') AS dump_ok
  FROM pgscale_archived('"Odd ""Plain"" Tbl"');
SELECT count(*) AS other_tables FROM pgscale_archived('pgscale_policy');

-- restore: refused inside the retention, then moved back after a change
SELECT * FROM pgscale_restore_archive('"Odd ""Plain"" Tbl"', now() - interval '150 days', now());
SELECT pgscale_set_retention('"Odd ""Plain"" Tbl"', '400 days');
SELECT sum(rows) AS restored_rows, bool_and(kind = 'rows') AS all_rows
  FROM pgscale_restore_archive('"Odd ""Plain"" Tbl"', now() - interval '150 days', now() + interval '1 day', 7);
SELECT count(*) FILTER (WHERE at >= now() - interval '150 days') = 0 AS none_left_in_range
  FROM "Arch ""Dst"""."Odd ""Plain"" Tbl";
SELECT count(*) = (SELECT kept FROM before)
         + (SELECT count(*) FROM generate_series(0, 1199) g
             WHERE make_interval(hours => g * 6) >= interval '100 days'
               AND make_interval(hours => g * 6) < interval '150 days') AS back,
       bool_and(twice = v * 2) AS generated_ok,
       count(DISTINCT id) = count(*) AS ids_kept
  FROM "Odd ""Plain"" Tbl";
SELECT count(*) > 0 AS restore_logged FROM pgscale_log WHERE action = 'restore';

-- the rows of a table's archived pieces
CREATE FUNCTION archived_count(src name) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint := 0; c bigint; a record;
BEGIN
    FOR a IN SELECT * FROM pgscale_archive WHERE source_table = src LOOP
        EXECUTE format('SELECT count(*) FROM %I.%I', a.archive_schema, a.archive_table) INTO c;
        n := n + c;
    END LOOP;
    RETURN n;
END $$;

-- a partitioned table: monthly partitions 11 months back to 1 ahead
CREATE TABLE events (id bigserial, at timestamptz NOT NULL, v int) PARTITION BY RANGE (at);
DO $$
DECLARE m timestamptz;
BEGIN
    FOR i IN -1..11 LOOP
        m := (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => i)) AT TIME ZONE 'UTC';
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                       'events_' || to_char(m AT TIME ZONE 'UTC', 'YYYY_MM'), m, m + interval '1 month');
    END LOOP;
END $$;
CREATE INDEX ON events (v);
-- every 15 minutes over 300 days: the cutoff always has rows on both sides
INSERT INTO events (at, v)
SELECT now() - make_interval(mins => g * 15), g FROM generate_series(0, 28799) g;
GRANT SELECT ON events TO regress_arch_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA "Arch Src" TO regress_arch_reader;

SELECT pgscale_set_retention('events', '100 days', action => 'archive', archive_schema => 'Arch "Dst"');
CREATE TEMP TABLE pbefore AS
SELECT (SELECT count(*) FROM events WHERE at < now() - interval '100 days') AS expired,
       (SELECT count(*) FROM events WHERE at >= now() - interval '100 days') AS kept,
       (SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass
           AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']*)''\)'))[1]::timestamptz
               <= now() - interval '100 days') AS expired_parts;
SELECT expired_parts > 0 AS some_expire FROM pbefore;

SELECT d.partitions_dropped = b.expired_parts AS dry_parts
  FROM pgscale_cleanup(dry_run => true, relation => 'events') d, pbefore b;
SELECT c.partitions_dropped = b.expired_parts AS parts,
       c.rows_deleted > 0 AS straddle_rows
  FROM pgscale_cleanup(relation => 'events') c, pbefore b;

SELECT count(*) FILTER (WHERE at < now() - interval '100 days') = 0 AS none_expired,
       count(*) = (SELECT kept FROM pbefore) AS kept_all
  FROM events;
SELECT archived_count('events') = (SELECT expired FROM pbefore) AS archived_all;
SELECT count(*) = (SELECT expired_parts FROM pbefore) AS parts_recorded,
       bool_and(archive_table ~ '^events_\d{4}_\d\d$') AS named_by_month
  FROM pgscale_archive WHERE source_table = 'events' AND kind = 'partition';
-- the archived partitions keep their indexes, owner and grants
SELECT bool_and(pg_get_userbyid(c.relowner) = 'regress_arch_owner') AS owner_kept,
       bool_and(has_table_privilege('regress_arch_reader', c.oid, 'SELECT')) AS grants_kept,
       bool_and((SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) = 1) AS index_kept,
       bool_and(NOT c.relispartition) AS detached
  FROM pgscale_archive a
  JOIN pg_namespace n ON n.nspname = a.archive_schema
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.archive_table
 WHERE a.source_table = 'events' AND a.kind = 'partition';
SELECT count(*) FILTER (WHERE action = 'archive') > 0 AS archive_logged,
       count(*) FILTER (WHERE action = 'drop_partition') AS drop_logged
  FROM pgscale_log WHERE table_name LIKE '%events%';
SELECT status, value <> 'nothing archived' AS has_size
  FROM pgscale_health() WHERE check_name = 'archive size';

-- restore of whole partitions: refused inside the retention
SELECT count(*) FROM pgscale_restore_archive('events', now() - interval '200 days', now());
SELECT pgscale_set_retention('events', '400 days');
CREATE TEMP TABLE r AS
SELECT * FROM pgscale_restore_archive('events', now() - interval '200 days', now() + interval '1 day');
SELECT count(*) FILTER (WHERE kind = 'partition') > 0 AS reattached,
       count(*) FILTER (WHERE kind = 'rows') > 0 AS rows_moved
  FROM r;
-- every row is in the table or still archived, once
SELECT (SELECT count(*) FROM events) + archived_count('events') = 28800 AS every_row_once,
       (SELECT count(*) FROM events WHERE at >= now() - interval '100 days') = (SELECT kept FROM pbefore) AS kept_all;
SELECT count(*) AS bound_checks_left FROM pg_constraint WHERE conname = 'pgscale_restore_bound';

-- archive_keep: archived months older than 250 days go
SELECT pgscale_set_retention('events', '100 days', archive_keep => '250 days');
SELECT action, archive_keep FROM pgscale_policy WHERE table_name = 'events'::regclass;
SELECT count(*) > 0 AS some_old FROM pgscale_archive
 WHERE source_table = 'events' AND range_to <= now() - interval '250 days';
SELECT count(*) >= 0 AS ran FROM pgscale_cleanup(relation => 'events');
SELECT count(*) AS old_left FROM pgscale_archive
 WHERE source_table = 'events' AND range_to <= now() - interval '250 days';
SELECT count(*) AS old_tables_left
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'Arch "Dst"' AND c.relname ~ '^events_\d{4}_\d\d$'
   AND NOT EXISTS (SELECT FROM pgscale_archive a WHERE a.archive_table = c.relname);

-- a 63-byte name of two-byte characters: archived names are clipped at a
-- character boundary and stay unique
DO $$
DECLARE
    t text := repeat('é', 20) || repeat('x', 23);
    m timestamptz;
BEGIN
    EXECUTE format('CREATE TABLE %I (at timestamptz NOT NULL) PARTITION BY RANGE (at)', t);
    FOR i IN 0..4 LOOP
        CONTINUE WHEN i = 1;
        m := (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => i)) AT TIME ZONE 'UTC';
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       'p' || i, t, m, m + interval '1 month');
        EXECUTE format('INSERT INTO %I VALUES (%L)', t, CASE WHEN i = 0 THEN now() ELSE m + interval '10 days' END);
    END LOOP;
    PERFORM pgscale_set_retention(t::regclass, '1 day', action => 'archive', archive_schema => 'Arch "Dst"');
    PERFORM pgscale_cleanup(relation => t::regclass);
END $$;
SELECT count(*) AS archived, bool_and(octet_length(archive_table) <= 63) AS fits,
       count(DISTINCT archive_table) AS distinct_names,
       bool_and(archive_table LIKE 'é%\_' || '____\___') AS month_kept,
       bool_and(to_regclass(format('%I.%I', archive_schema, archive_table)) IS NOT NULL) AS exist
  FROM pgscale_archive WHERE source_table LIKE 'éé%';

-- pgscale_detached records a concurrently detached partition by name: a
-- table a person made or renamed into that name since is left alone, with
-- a warning, unless it still looks like the partition (the managed
-- table's owner and columns, a CHECK that keeps its rows within the
-- recorded bounds, as DETACH ... CONCURRENTLY leaves); the one that does
-- is dropped
CREATE TABLE looks (at timestamptz NOT NULL, v int) PARTITION BY RANGE (at);
CREATE TABLE looks_2001_01 PARTITION OF looks FOR VALUES FROM ('2001-01-01') TO ('2001-02-01');
CREATE TABLE looks_new PARTITION OF looks FOR VALUES FROM ('2001-02-01') TO (MAXVALUE);
INSERT INTO looks SELECT '2001-01-01'::timestamptz + g * interval '1 hour', g FROM generate_series(0, 99) g;
INSERT INTO looks SELECT now() - g * interval '1 hour', g FROM generate_series(0, 999) g;
ALTER TABLE looks DETACH PARTITION looks_2001_01 CONCURRENTLY;
SELECT pgscale_set_retention('looks', '100 days');
-- (a) other columns
CREATE TABLE looks_a (at timestamptz NOT NULL, note text);
INSERT INTO looks_a SELECT '2001-01-02', 'a' FROM generate_series(1, 10);
-- (c) the same shape and owner, a CHECK of other bounds, rows outside the recorded ones
CREATE TABLE looks_c (LIKE looks, CHECK (at >= '2001-03-01' AND at < '2001-04-01'));
INSERT INTO looks_c SELECT '2001-03-02', g FROM generate_series(1, 30) g;
-- (d) the same shape and owner, no CHECK: a copy of the month made by hand
CREATE TABLE looks_d AS SELECT * FROM looks_2001_01;
RESET ROLE;
-- (b) the same shape and a CHECK of the bounds, another owner
CREATE TABLE "Arch Src".looks_b (LIKE "Arch Src".looks,
    CHECK (at IS NOT NULL AND at >= '2001-01-01' AND at < '2001-02-01'));
INSERT INTO "Arch Src".looks_b SELECT '2001-01-03', g FROM generate_series(1, 20) g;
ALTER TABLE "Arch Src".looks_b OWNER TO regress_arch_reader;
INSERT INTO pgscale_detached (rel_schema, rel_name, table_name, bound, action, archive_schema,
                              bound_from, bound_to)
SELECT 'Arch Src', n, '"Arch Src".looks', 'FOR VALUES FROM (''2001-01-01 00:00:00+00'') TO (''2001-02-01 00:00:00+00'')',
       CASE n WHEN 'looks_b' THEN 'archive' ELSE 'drop' END,
       CASE n WHEN 'looks_b' THEN 'Arch "Dst"' END,
       extract(epoch FROM '2001-01-01'::timestamptz - '2000-01-01'::timestamptz)::bigint * 1000000,
       extract(epoch FROM '2001-02-01'::timestamptz - '2000-01-01'::timestamptz)::bigint * 1000000
  FROM unnest(ARRAY['looks_2001_01', 'looks_a', 'looks_b', 'looks_c', 'looks_d']) n;
SET ROLE regress_arch_owner;
-- the dry run warns as the real run then does, and counts only the partition
SELECT partitions_dropped FROM pgscale_cleanup(dry_run => true, relation => 'looks');
SELECT count(*) AS records_kept_by_dry_run FROM pgscale_detached;
SELECT partitions_dropped FROM pgscale_cleanup(relation => 'looks');
SELECT to_regclass('looks_2001_01') IS NULL AS partition_dropped,
       (SELECT count(*) FROM looks_a) AS a_rows, (SELECT count(*) FROM looks_c) AS c_rows,
       (SELECT count(*) FROM looks_d) AS d_rows, (SELECT count(*) FROM looks) AS kept_rows;
RESET ROLE;
SELECT count(*) AS b_rows FROM "Arch Src".looks_b;
SELECT count(*) AS records_left FROM pgscale_detached;
SELECT count(*) FILTER (WHERE action = 'kept') AS kept_logged,
       count(*) FILTER (WHERE action = 'drop_partition' AND detail LIKE '%by an earlier run, dropped now') AS dropped_logged
  FROM pgscale_log WHERE table_name LIKE '%looks%';
SET ROLE regress_arch_owner;
-- the records forgotten, the next run says nothing more
SELECT partitions_dropped FROM pgscale_cleanup(relation => 'looks');
RESET ROLE;
DROP TABLE "Arch Src".looks_b;
SET ROLE regress_arch_owner;

-- a role that may not create in the archive schema
DROP TABLE before, pbefore, r;
RESET ROLE;
CREATE ROLE regress_arch_other;
CREATE TABLE public.other_t (at timestamptz NOT NULL);
ALTER TABLE public.other_t OWNER TO regress_arch_other;
SET ROLE regress_arch_other;
SELECT pgscale_set_retention('public.other_t', '1 day', 'at', action => 'archive',
                             archive_schema => 'Arch "Dst"');
RESET ROLE;
DROP TABLE public.other_t;
DROP ROLE regress_arch_other;

DROP SCHEMA evil CASCADE;
DROP SCHEMA "Arch Src" CASCADE;
DROP SCHEMA "Arch ""Dst""" CASCADE;
DROP EXTENSION pgscale;
REVOKE CREATE ON DATABASE contrib_regression FROM regress_arch_owner;
DROP ROLE regress_arch_reader;
DROP ROLE regress_arch_owner;
