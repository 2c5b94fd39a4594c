--
-- Action 'archive' against action 'drop', on a plain table, a partitioned
-- table and its straddling partition, through the function form and CALL
-- pgscale_cleanup_proc() (where expired partitions leave the parent with
-- DETACH PARTITION ... CONCURRENTLY); archive_keep expiry; restore
-- (re-attach of an archived partition, archived rows moved back) and its
-- refusal inside the retention; owner and grants of what is archived; odd
-- names (mixed case, spaces and quotes in schema and table names); a
-- hostile search_path.  Fixed dates: expired rows in 2001, kept ones in
-- 2998 and 2999, so that no assertion depends on today.  Runs in autocommit
-- mode (the procedure commits) and removes what it created.
--
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pgtap') AS made_pgtap,
       NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pgscale') AS made_pgscale \gset
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pgscale;

SELECT plan(48);

DROP SCHEMA IF EXISTS "Src ""Q"" Sch", "Arch ""Dst"" X", evil CASCADE;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgs_arch_owner') THEN
        CREATE ROLE pgs_arch_owner;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgs_arch_reader') THEN
        CREATE ROLE pgs_arch_reader;
    END IF;
    EXECUTE format('GRANT CREATE ON DATABASE %I TO pgs_arch_owner', current_database());
END $$;
CREATE SCHEMA "Src ""Q"" Sch" AUTHORIZATION pgs_arch_owner;
GRANT USAGE ON SCHEMA "Src ""Q"" Sch" TO pgs_arch_reader;

-- the tables, made by their owner
SET ROLE pgs_arch_owner;
SET search_path = "Src ""Q"" Sch", public;
-- plain: 300 rows in January to March 2001 (expired), 600 in 2998 (kept)
CREATE TABLE "Plain ""D"" Tbl" (id int, at timestamptz NOT NULL, v int);
INSERT INTO "Plain ""D"" Tbl"
SELECT g, '2001-01-01'::timestamptz + g * interval '5 hours', g FROM generate_series(0, 299) g
UNION ALL
SELECT 1000 + g, '2998-01-01'::timestamptz + g * interval '1 hour', g FROM generate_series(0, 599) g;
CREATE TABLE "Plain ""A"" Tbl" AS SELECT * FROM "Plain ""D"" Tbl";
GRANT SELECT ON "Plain ""A"" Tbl" TO pgs_arch_reader;
-- partitioned: January and February 2001 expire whole, the partition from
-- March 2001 to 2999 straddles the cutoff (100 rows of March 2001 expire,
-- 400 of 2998 stay), the one from 2999 on is kept
CREATE FUNCTION make_parted(t text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE format('CREATE TABLE %I (id int, at timestamptz NOT NULL, v int) PARTITION BY RANGE (at)', t);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', t || ' jan', t, '2001-01-01', '2001-02-01');
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', t || ' feb', t, '2001-02-01', '2001-03-01');
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', t || ' mid', t, '2001-03-01', '2999-01-01');
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (MAXVALUE)', t || ' new', t, '2999-01-01');
    EXECUTE format('CREATE INDEX ON %I (v)', t);
    EXECUTE format($i$INSERT INTO %I
        SELECT g, '2001-01-01'::timestamptz + g * interval '7 hours', g FROM generate_series(0, 99) g
        UNION ALL SELECT 100 + g, '2001-02-01'::timestamptz + g * interval '6 hours', g FROM generate_series(0, 99) g
        UNION ALL SELECT 200 + g, '2001-03-01'::timestamptz + g * interval '7 hours', g FROM generate_series(0, 99) g
        UNION ALL SELECT 300 + g, '2998-01-01'::timestamptz + g * interval '1 hour', g FROM generate_series(0, 399) g
        UNION ALL SELECT 700 + g, '2999-06-01'::timestamptz + g * interval '1 hour', g FROM generate_series(0, 99) g$i$, t);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO pgs_arch_reader', current_schema());
END $f$;
SELECT make_parted('Part "D" Tbl');
SELECT make_parted('Part "A" Tbl');
-- the rows of every archived piece of a table
CREATE FUNCTION archived_rows(src name) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint := 0; c bigint; a record;
BEGIN
    FOR a IN SELECT * FROM public.pgscale_archive WHERE source_table = src LOOP
        EXECUTE format('SELECT count(*) FROM ONLY %I.%I', a.archive_schema, a.archive_table) INTO c;
        n := n + c;
    END LOOP;
    RETURN n;
END $f$;
RESET ROLE;

SELECT pgscale_set_retention('"Src ""Q"" Sch"."Plain ""D"" Tbl"', '365 days', 'at');
SELECT pgscale_set_retention('"Src ""Q"" Sch"."Plain ""A"" Tbl"', '365 days', 'at',
                             action => 'archive', archive_schema => 'Arch "Dst" X');
SELECT pgscale_set_retention('"Src ""Q"" Sch"."Part ""D"" Tbl"', '365 days', 'at');
SELECT pgscale_set_retention('"Src ""Q"" Sch"."Part ""A"" Tbl"', '365 days', 'at',
                             action => 'archive', archive_schema => 'Arch "Dst" X');

--
-- The dry run: the counts of the real run, nothing made.
--
SELECT is((SELECT partitions_dropped || ' ' || rows_deleted
             FROM pgscale_cleanup(dry_run => true, relation => '"Src ""Q"" Sch"."Part ""A"" Tbl"')),
          '2 100', 'dry run: two partitions and 100 rows would be archived');
SELECT is((SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => '"Src ""Q"" Sch"."Plain ""A"" Tbl"')),
          300::bigint, 'dry run: 300 rows of the plain table would be archived');
SELECT is(to_regnamespace('"Arch ""Dst"" X"') IS NULL AND (SELECT count(*) FROM public.pgscale_archive) = 0, true,
          'dry run: no archive schema made, nothing recorded');

--
-- A hostile search_path for every run below: a schema earlier than
-- pg_catalog with an operator < that holds for every pair of timestamps,
-- a now() in the year 3000, and tables of the same names.
--
CREATE SCHEMA evil;
CREATE FUNCTION evil.always(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.always);
CREATE OPERATOR evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.always);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '3000-01-01'::timestamptz$$;
CREATE TABLE evil."Plain ""A"" Tbl" AS SELECT * FROM "Src ""Q"" Sch"."Plain ""A"" Tbl";
CREATE TABLE evil."Part ""A"" Tbl" AS SELECT * FROM "Src ""Q"" Sch"."Part ""A"" Tbl";
CREATE TABLE evil.pgscale_archive (LIKE public.pgscale_archive);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
SET search_path = evil, pg_catalog, "Src ""Q"" Sch", public;

--
-- Plain tables, the function form: drop deletes, archive moves.
--
SELECT is((SELECT rows_deleted FROM public.pgscale_cleanup(relation => '"Src ""Q"" Sch"."Plain ""D"" Tbl"')),
          300::bigint, 'plain, drop: 300 rows deleted');
SELECT is((SELECT count(*) FROM "Src ""Q"" Sch"."Plain ""D"" Tbl" WHERE at OPERATOR(pg_catalog.>=) '2998-01-01'),
          600::bigint, 'plain, drop: the 600 kept rows stay');
SELECT is((SELECT count(*) FROM "Src ""Q"" Sch"."Plain ""D"" Tbl"), 600::bigint, 'plain, drop: no expired row left');
SELECT is((SELECT count(*) FROM public.pgscale_archive WHERE source_table = 'Plain "D" Tbl'), 0::bigint,
          'plain, drop: nothing archived');

SELECT is((SELECT rows_deleted FROM public.pgscale_cleanup(relation => '"Src ""Q"" Sch"."Plain ""A"" Tbl"')),
          300::bigint, 'plain, archive: 300 rows moved');
SELECT is((SELECT count(*) || ' ' || sum(v) FROM "Src ""Q"" Sch"."Plain ""A"" Tbl"),
          (SELECT count(*) || ' ' || sum(v) FROM "Src ""Q"" Sch"."Plain ""D"" Tbl"),
          'plain, archive: the table keeps exactly what the drop kept');
SELECT is((SELECT count(*) || ' ' || sum(v) || ' ' || min(at)::text || ' ' || max(at)::text
             FROM "Arch ""Dst"" X"."Plain ""A"" Tbl"),
          (SELECT count(*) || ' ' || sum(v) || ' ' || min(at)::text || ' ' || max(at)::text
             FROM evil."Plain ""A"" Tbl" WHERE at OPERATOR(pg_catalog.<) '2002-01-01'),
          'plain, archive: the archive holds exactly the expired rows');
SELECT is((SELECT count(*) || ' ' || sum(rows) || ' ' || bool_and(kind = 'rows')
             FROM public.pgscale_archive WHERE source_schema = 'Src "Q" Sch' AND source_table = 'Plain "A" Tbl'
              AND archive_schema = 'Arch "Dst" X'),
          '3 300 true', 'plain, archive: one catalog row per month of rows, adding up');
SELECT is((SELECT count(*) FROM evil."Plain ""A"" Tbl"), 900::bigint,
          'hostile search_path: the same-named table is untouched');
SELECT is((SELECT count(*) FROM evil.pgscale_archive), 0::bigint,
          'hostile search_path: the same-named catalog is untouched');

--
-- Partitioned tables through the procedure: the expired partitions leave
-- the parent with DETACH PARTITION CONCURRENTLY, dropped or archived at the
-- end of the run; the straddling partition's expired rows are deleted or
-- moved.
--
SELECT coalesce(max(id), 0) AS log0 FROM public.pgscale_log \gset
CALL public.pgscale_cleanup_proc(relation => '"Src ""Q"" Sch"."Part ""D"" Tbl"');
SELECT is(to_regclass('"Src ""Q"" Sch"."Part ""D"" Tbl jan"') IS NULL
          AND to_regclass('"Src ""Q"" Sch"."Part ""D"" Tbl feb"') IS NULL, true,
          'partitioned, drop: the expired partitions are gone');
SELECT is((SELECT count(*) FROM "Src ""Q"" Sch"."Part ""D"" Tbl"), 500::bigint,
          'partitioned, drop: 500 kept rows, the straddling month''s 100 expired ones deleted');
SELECT is((SELECT count(*) FROM public.pgscale_log WHERE id > :log0 AND action = 'drop_partition'
            AND detail LIKE '%detached concurrently (SHARE UPDATE EXCLUSIVE on the parent), dropped at the end of the table''s run'),
          2::bigint, 'partitioned, drop: both detached concurrently');

SELECT coalesce(max(id), 0) AS log0 FROM public.pgscale_log \gset
CALL public.pgscale_cleanup_proc(relation => '"Src ""Q"" Sch"."Part ""A"" Tbl"');
SELECT is((SELECT count(*) || ' ' || sum(v) FROM "Src ""Q"" Sch"."Part ""A"" Tbl"),
          (SELECT count(*) || ' ' || sum(v) FROM "Src ""Q"" Sch"."Part ""D"" Tbl"),
          'partitioned, archive: the table keeps exactly what the drop kept');
SELECT is((SELECT count(*) FROM public.pgscale_log WHERE id > :log0 AND action = 'archive'
            AND detail LIKE 'partition detached concurrently (SHARE UPDATE EXCLUSIVE on the parent), moved to the archive schema%'),
          2::bigint, 'partitioned, archive: both partitions detached concurrently, then moved');
SELECT is((SELECT count(*) FROM public.pgscale_log WHERE id > :log0 AND action IN ('drop_partition', 'error')),
          0::bigint, 'partitioned, archive: nothing dropped, no error');
SELECT is((SELECT count(*) FROM public.pgscale_detached), 0::bigint, 'partitioned, archive: no detach record left');
SELECT is((SELECT string_agg(archive_table || ' ' || kind || ' ' || range_from::date || ' ' || range_to::date, ', '
                             ORDER BY range_from)
             FROM public.pgscale_archive WHERE source_schema = 'Src "Q" Sch' AND source_table = 'Part "A" Tbl'
              AND archive_schema = 'Arch "Dst" X'),
          'Part "A" Tbl_2001_01 partition 2001-01-01 2001-02-01, Part "A" Tbl_2001_02 partition 2001-02-01 2001-03-01, '
          'Part "A" Tbl_rows_2001_03 rows 2001-03-01 2001-04-01',
          'partitioned, archive: two partitions and one month of rows recorded, named by table and month');
SELECT is((SELECT count(*) FROM "Arch ""Dst"" X"."Part ""A"" Tbl_2001_01") || ' '
          || (SELECT count(*) FROM "Arch ""Dst"" X"."Part ""A"" Tbl_2001_02") || ' '
          || (SELECT count(*) FROM "Arch ""Dst"" X"."Part ""A"" Tbl"),
          '100 100 100', 'partitioned, archive: every expired row is in the archive');
SELECT is((SELECT count(*) FROM "Src ""Q"" Sch"."Part ""A"" Tbl") + archived_rows('Part "A" Tbl'), 800::bigint,
          'partitioned, archive: every row is once in the table or the archive');
SELECT is((SELECT count(*) FROM evil."Part ""A"" Tbl"), 800::bigint,
          'hostile search_path: the same-named partitioned table''s copy is untouched');

--
-- Owner and grants: the archive schema and everything in it belong to the
-- tables' owner (the runs above were a superuser's), the grants go along,
-- the archived partitions keep their index and are partitions no more.
--
SELECT is((SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'Arch "Dst" X'),
          'pgs_arch_owner', 'owner: the archive schema is the table owner''s');
SELECT is((SELECT bool_and(pg_get_userbyid(c.relowner) = 'pgs_arch_owner')
             FROM pg_class c WHERE c.relnamespace = to_regnamespace('"Arch ""Dst"" X"') AND c.relkind IN ('r', 'p')),
          true, 'owner: every archived table is the table owner''s');
SELECT is((SELECT bool_and(has_table_privilege('pgs_arch_reader', c.oid, 'SELECT'))
             FROM public.pgscale_archive a
             JOIN pg_class c ON c.relname = a.archive_table AND c.relnamespace = to_regnamespace('"Arch ""Dst"" X"')
            WHERE a.kind = 'partition'),
          true, 'grants: the archived partitions keep their grants');
SELECT is(has_table_privilege('pgs_arch_reader', '"Arch ""Dst"" X"."Plain ""A"" Tbl"', 'SELECT'), true,
          'grants: the archive table of rows has the table''s grants');
SELECT is((SELECT bool_and((SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) = 1 AND NOT c.relispartition)
             FROM public.pgscale_archive a
             JOIN pg_class c ON c.relname = a.archive_table AND c.relnamespace = to_regnamespace('"Arch ""Dst"" X"')
            WHERE a.kind = 'partition'),
          true, 'the archived partitions keep their index and are no partitions any more');
SELECT is((SELECT count(*) FROM public.pgscale_archived('"Src ""Q"" Sch"."Part ""A"" Tbl"')
            WHERE dump_command LIKE 'pg_dump %--table=''"Arch ""Dst"" X".%'),
          3::bigint, 'pgscale_archived(): a pg_dump command per piece, the odd names quoted');

--
-- A second run finds nothing more to do.
--
SELECT is((SELECT partitions_dropped || ' ' || rows_deleted
             FROM public.pgscale_cleanup(relation => '"Src ""Q"" Sch"."Part ""A"" Tbl"')),
          '0 0', 'a second run archives nothing more');

--
-- archive_keep: the archived pieces whose range ends before the middle of
-- February 2001 go (January's partition), the later ones stay.
--
SELECT public.pgscale_set_retention('"Src ""Q"" Sch"."Part ""A"" Tbl"', '365 days',
                                    archive_keep => pg_catalog.now() OPERATOR(pg_catalog.-) '2001-02-15'::timestamptz);
SELECT is((SELECT archive_keep IS NOT NULL FROM public.pgscale_policy
            WHERE table_name = '"Src ""Q"" Sch"."Part ""A"" Tbl"'::regclass), true, 'archive_keep is set');
SELECT coalesce(max(id), 0) AS log0 FROM public.pgscale_log \gset
SELECT is((SELECT rows_deleted FROM public.pgscale_cleanup(relation => '"Src ""Q"" Sch"."Part ""A"" Tbl"')),
          0::bigint, 'archive_keep: the run itself moves no row');
SELECT is(to_regclass('"Arch ""Dst"" X"."Part ""A"" Tbl_2001_01"') IS NULL, true,
          'archive_keep: the archived January partition is dropped');
SELECT is((SELECT string_agg(archive_table, ', ' ORDER BY range_from) FROM public.pgscale_archive
            WHERE source_table = 'Part "A" Tbl'),
          'Part "A" Tbl_2001_02, Part "A" Tbl_rows_2001_03', 'archive_keep: the later pieces stay recorded');
SELECT is((SELECT count(*) FROM "Arch ""Dst"" X"."Part ""A"" Tbl_2001_02") + (SELECT count(*) FROM "Arch ""Dst"" X"."Part ""A"" Tbl"),
          200::bigint, 'archive_keep: the later pieces keep their rows');
SELECT is((SELECT count(*) FROM public.pgscale_log WHERE id > :log0 AND action = 'drop_partition'
            AND detail LIKE '%archived data older than archive_keep%'), 1::bigint, 'archive_keep: the drop is logged');

--
-- Restore: refused while the range is outside the retention; once the
-- retention is longer, the archived partition is attached again and the
-- archived rows go back into the straddling partition.
--
SELECT throws_ok($$SELECT * FROM public.pgscale_restore_archive('"Src ""Q"" Sch"."Part ""A"" Tbl"',
                                                                '2001-02-01', '2001-04-01')$$,
                 '55000', NULL, 'restore inside the retention: refused');
SELECT is((SELECT count(*) FROM public.pgscale_archive WHERE source_table = 'Part "A" Tbl'), 2::bigint,
          'restore refused: nothing changed');
SELECT public.pgscale_set_retention('"Src ""Q"" Sch"."Part ""A"" Tbl"', '36500 days');
CREATE TEMP TABLE restored AS
SELECT * FROM public.pgscale_restore_archive('"Src ""Q"" Sch"."Part ""A"" Tbl"', '2001-02-01', '2001-04-01');
SELECT is((SELECT string_agg(kind, ', ' ORDER BY kind) || ' ' || sum(rows) FILTER (WHERE kind = 'rows') FROM restored),
          'partition, rows 100', 'restore: one partition attached again, 100 rows moved back');
SELECT is((SELECT count(*) FROM "Src ""Q"" Sch"."Part ""A"" Tbl"), 700::bigint,
          'restore: the table has its 500 rows and the 200 restored ones');
SELECT is((SELECT count(*) FROM "Src ""Q"" Sch"."Part ""A"" Tbl"
            WHERE at OPERATOR(pg_catalog.>=) '2001-02-01' AND at OPERATOR(pg_catalog.<) '2001-04-01'),
          200::bigint, 'restore: February and March 2001 are back');
SELECT is((SELECT i.inhparent = '"Src ""Q"" Sch"."Part ""A"" Tbl"'::regclass AND c.relnamespace = to_regnamespace('"Src ""Q"" Sch"')
             FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
            WHERE c.relname LIKE 'Part "A" Tbl%' AND pg_get_expr(c.relpartbound, c.oid) LIKE '%2001-02-01%'),
          true, 'restore: the archived partition is a partition of the table again, in its schema');
SELECT is((SELECT count(*) FROM "Arch ""Dst"" X"."Part ""A"" Tbl"), 0::bigint, 'restore: the archived rows are gone from the archive');
SELECT is((SELECT count(*) FROM public.pgscale_archive WHERE source_table = 'Part "A" Tbl' AND kind = 'partition'), 0::bigint,
          'restore: the attached partition is no longer recorded as archived');
SELECT is((SELECT count(*) FROM pg_constraint WHERE conname = 'pgscale_restore_bound'), 0::bigint,
          'restore: no bound CHECK left behind');
SELECT is((SELECT count(*) > 0 FROM public.pgscale_log WHERE action = 'restore'
            AND table_name LIKE '%Part%'), true, 'restore: logged');
SELECT is((SELECT count(*) FROM evil."Part ""A"" Tbl") || ' ' || (SELECT count(*) FROM evil.pgscale_archive),
          '800 0', 'hostile search_path: nothing of schema evil was touched by any of it');

RESET search_path;
SELECT * FROM finish();

-- clean up after ourselves
DROP TABLE restored;
DROP SCHEMA evil, "Src ""Q"" Sch", "Arch ""Dst"" X" CASCADE;
DELETE FROM pgscale_archive;
DO $$
BEGIN
    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM pgs_arch_owner', current_database());
END $$;
DROP ROLE pgs_arch_reader;
DROP ROLE pgs_arch_owner;
\if :made_pgscale
DROP EXTENSION pgscale;
\endif
\if :made_pgtap
DROP EXTENSION pgtap;
\endif
