--
-- CALL pgscale_cleanup_proc(...): commits after every batch and every dropped
-- partition, so it cannot run inside a transaction block.  This file runs in
-- autocommit mode and removes what it created (schema pgscale_t, and the
-- extensions if it created them).  Date columns only: now() moves between the
-- procedure's transactions, current_date does not (unless midnight passes).
--
SET client_min_messages = warning;
SET TimeZone = 'Asia/Kolkata';
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pgtap') AS made_pgtap,
       NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pgscale') AS made_pgscale \gset
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pgscale;

\ir fixtures.psql

SELECT plan(52);

--
-- Plain table, batches of 100 rows.
--
SELECT pgscale_t.make_table('pgscale_t', 'pp', 'ts', 'date');
SELECT pgscale_t.add_boundary('pgscale_t.pp', 'ts', 'date', '365 days');
SELECT pgscale_set_retention('pgscale_t.pp', '365 days', 'ts');
CREATE TABLE pgscale_t.pp_keep AS SELECT * FROM pgscale_t.pp WHERE NOT coalesce(ts < current_date - 365, false);
SELECT count(*) AS pp_total, count(*) FILTER (WHERE ts < current_date - 365) AS pp_expired FROM pgscale_t.pp \gset
SELECT coalesce(max(id), 0) AS log0 FROM pgscale_log \gset

CALL pgscale_cleanup_proc(dry_run => true, relation => 'pgscale_t.pp', batch_size => 100);
SELECT is((SELECT count(*) FROM pgscale_t.pp), :pp_total::bigint, 'proc dry run deletes nothing');
SELECT is((SELECT count(*) FROM pgscale_log WHERE id > :log0 AND action ~* '(drop|delet)'), 0::bigint,
          'proc dry run logs no drop or delete');

-- A trigger fails the delete of one expired row in the middle of the purge:
-- the batches committed before it stay deleted, that row stays.
CREATE FUNCTION pgscale_t.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.id = 3000 THEN
        RAISE EXCEPTION 'refused by test trigger';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER refuse BEFORE DELETE ON pgscale_t.pp FOR EACH ROW EXECUTE FUNCTION pgscale_t.refuse();
SELECT is((SELECT count(*) FROM pgscale_t.pp WHERE id = 3000 AND ts < current_date - 365), 1::bigint,
          'row 3000 is expired');
\set ON_ERROR_STOP 0
\echo '# a WARNING or an ERROR "refused by test trigger" is expected here'
CALL pgscale_cleanup_proc(relation => 'pgscale_t.pp', batch_size => 100);
\set ON_ERROR_STOP 1
SELECT is((SELECT count(*) FROM pgscale_t.pp WHERE id = 3000), 1::bigint, 'the refused row is still there');
SELECT cmp_ok((SELECT count(*) FROM pgscale_t.pp WHERE ts < current_date - 365), '<', :pp_expired::bigint,
              'batches before the failure stay committed');
SELECT ok(EXISTS (SELECT FROM pgscale_log WHERE id > :log0 AND action ~* 'error'
                                          AND relid = 'pgscale_t.pp'::regclass),
          'the failure is in pgscale_log');
DROP TRIGGER refuse ON pgscale_t.pp;

SELECT coalesce(max(id), 0) AS log0 FROM pgscale_log \gset
SELECT count(*) FILTER (WHERE ts < current_date - 365) AS pp_expired FROM pgscale_t.pp \gset
CALL pgscale_cleanup_proc(relation => 'pgscale_t.pp', batch_size => 100);
SELECT is((SELECT count(*) FROM pgscale_t.pp WHERE ts < current_date - 365), 0::bigint,
          'proc: no expired row left');
SELECT bag_eq('SELECT * FROM pgscale_t.pp', 'SELECT * FROM pgscale_t.pp_keep', 'proc: every other row kept');
SELECT is((SELECT coalesce(sum(rows), 0) FROM pgscale_log WHERE id > :log0 AND action ~* 'delet')::bigint,
          :pp_expired::bigint, 'proc: logged deletes add up');

--
-- Monthly partitions with a default partition, batches of 50 rows.
--
SELECT pgscale_t.make_table('pgscale_t', 'pt', 'ts', 'date', 'default');
SELECT pgscale_t.add_boundary('pgscale_t.pt', 'ts', 'date', '365 days');
SELECT pgscale_set_retention('pgscale_t.pt', '365 days');
CREATE TABLE pgscale_t.pt_keep AS SELECT * FROM pgscale_t.pt WHERE NOT coalesce(ts < current_date - 365, false);
CREATE TABLE pgscale_t.pt_drop AS
    SELECT part FROM pgscale_t.parts WHERE parent = 'pgscale_t.pt'::regclass AND hi::date <= current_date - 365;
SELECT count(*) AS pt_total, count(*) FILTER (WHERE ts < current_date - 365) AS pt_expired FROM pgscale_t.pt \gset
SELECT count(*) AS pt_ndrop FROM pgscale_t.pt_drop \gset
SELECT count(*) AS pt_trim FROM pgscale_t.pt
 WHERE ts < current_date - 365 AND tableoid NOT IN (SELECT part FROM pgscale_t.pt_drop) \gset
SELECT ok(:pt_ndrop > 0 AND :pt_trim > 0, 'fixture has partitions to drop and rows to trim');

-- bad input: refused before anything is done, even in a procedure that commits
\set ON_ERROR_STOP 0
\echo '# three ERRORs are expected here (batch_size 0, days -1, protected table)'
CALL pgscale_cleanup_proc(relation => 'pgscale_t.pt', batch_size => 0);
CALL pgscale_cleanup_proc(days => -1, relation => 'pgscale_t.pt');
SELECT pgscale_t.make_table('pgscale_t', 'core', 'ts', 'date');
SELECT pgscale_protect('pgscale_t.core');
CALL pgscale_cleanup_proc(days => 1, relation => 'pgscale_t.core');
\set ON_ERROR_STOP 1
SELECT is((SELECT count(*) FROM pgscale_t.pt), :pt_total::bigint, 'proc: bad input deletes nothing');
SELECT is((SELECT count(*) FROM pg_class WHERE oid IN (SELECT part FROM pgscale_t.pt_drop)), :pt_ndrop::bigint,
          'proc: bad input drops nothing');
SELECT is((SELECT count(*) FROM pgscale_t.core), 4013::bigint, 'proc: protected table untouched');

SELECT coalesce(max(id), 0) AS log0 FROM pgscale_log \gset
CALL pgscale_cleanup_proc(dry_run => true, relation => 'pgscale_t.pt', batch_size => 50);
SELECT is((SELECT count(*) FROM pgscale_t.pt), :pt_total::bigint, 'proc dry run deletes nothing (partitioned)');
SELECT is((SELECT count(*) FROM pg_class WHERE oid IN (SELECT part FROM pgscale_t.pt_drop)), :pt_ndrop::bigint,
          'proc dry run drops nothing');

CALL pgscale_cleanup_proc(relation => 'pgscale_t.pt', batch_size => 50);
SELECT is((SELECT count(*) FROM pgscale_t.pt WHERE ts < current_date - 365), 0::bigint,
          'proc partitioned: no expired row left');
SELECT bag_eq('SELECT * FROM pgscale_t.pt', 'SELECT * FROM pgscale_t.pt_keep', 'proc partitioned: every other row kept');
SELECT is((SELECT count(*) FROM pg_class WHERE oid IN (SELECT part FROM pgscale_t.pt_drop)), 0::bigint,
          'proc partitioned: expired partitions dropped');
SELECT is((SELECT count(*) FROM pg_inherits WHERE inhparent = 'pgscale_t.pt'::regclass),
          (SELECT count(*) FROM pgscale_t.parts WHERE parent = 'pgscale_t.pt'::regclass) - :pt_ndrop,
          'proc partitioned: other partitions kept');
SELECT is((SELECT count(*) FROM pgscale_log WHERE id > :log0 AND action ~* 'drop'), :pt_ndrop::bigint,
          'proc partitioned: one log entry per dropped partition');
SELECT is((SELECT coalesce(sum(rows), 0) FROM pgscale_log WHERE id > :log0 AND action ~* 'delet')::bigint,
          :pt_trim::bigint, 'proc partitioned: logged deletes add up');
-- every dropped partition committed on its own: distinct transactions
SELECT cmp_ok((SELECT count(DISTINCT xmin::text) FROM pgscale.pgscale_log WHERE id > :log0 AND action ~* 'drop')::int,
              '=', :pt_ndrop, 'proc partitioned: each drop logged by its own transaction');
-- a default partition: DETACH PARTITION CONCURRENTLY refuses it, so the
-- drops take ACCESS EXCLUSIVE, and the log says why
SELECT is((SELECT count(*) FROM pgscale_log WHERE id > :log0 AND action = 'drop_partition'
            AND detail LIKE '%dropped under ACCESS EXCLUSIVE on the parent: the table has a default partition%'),
          :pt_ndrop::bigint, 'proc with a default partition: every drop logged as the ACCESS EXCLUSIVE path');

--
-- Monthly partitions, no default partition: the procedure detaches the
-- expired ones concurrently and drops them together at the end.  One of
-- them was detached by an earlier run that crashed before its drop (its
-- record in pgscale_detached): the dry run counts it, the run drops it.
--
SELECT pgscale_t.make_table('pgscale_t', 'pc', 'ts', 'date', 'nodefault');
SELECT pgscale_t.add_boundary('pgscale_t.pc', 'ts', 'date', '365 days');
SELECT pgscale_set_retention('pgscale_t.pc', '365 days');
CREATE TABLE pgscale_t.pc_keep AS SELECT * FROM pgscale_t.pc WHERE NOT coalesce(ts < current_date - 365, false);
CREATE TABLE pgscale_t.pc_drop AS
    SELECT part, hi FROM pgscale_t.parts WHERE parent = 'pgscale_t.pc'::regclass AND hi::date <= current_date - 365;
SELECT count(*) AS pc_ndrop FROM pgscale_t.pc_drop \gset
SELECT part::text AS pc_left FROM pgscale_t.pc_drop ORDER BY hi::date LIMIT 1 \gset
SELECT pg_get_expr(relpartbound, oid) AS pc_left_bound FROM pg_class WHERE oid = :'pc_left'::regclass \gset
-- CONCURRENTLY, as a run detaches: the partition keeps its bound as a CHECK
ALTER TABLE pgscale_t.pc DETACH PARTITION :pc_left CONCURRENTLY;
INSERT INTO pgscale_detached (rel_schema, rel_name, table_name, bound, bound_from, bound_to)
SELECT n.nspname, c.relname, 'pgscale_t.pc'::regclass, :'pc_left_bound',
       NULL, ((extract(epoch FROM d.hi::timestamp) - 946684800) * 1000000)::bigint
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pgscale_t.pc_drop d ON d.part = c.oid WHERE c.oid = :'pc_left'::regclass;
SELECT ok(:pc_ndrop > 1, 'fixture has partitions to detach');

SELECT coalesce(max(id), 0) AS log0 FROM pgscale_log \gset
SELECT is((SELECT partitions_dropped FROM pgscale_cleanup(dry_run => true, relation => 'pgscale_t.pc')),
          :pc_ndrop, 'dry run counts the detached partition and the expired ones');
SELECT is((SELECT count(*) FROM pgscale_detached), 1::bigint, 'dry run leaves the record');
CALL pgscale_cleanup_proc(relation => 'pgscale_t.pc');
SELECT is((SELECT count(*) FROM pgscale_log WHERE id > :log0 AND action = 'drop_partition'), :pc_ndrop::bigint,
          'proc detach: as many partitions dropped as the dry run said');
SELECT is((SELECT count(*) FROM pgscale_log WHERE id > :log0 AND action = 'drop_partition'
            AND detail LIKE '%detached concurrently (SHARE UPDATE EXCLUSIVE on the parent)%'),
          :pc_ndrop - 1::bigint, 'proc detach: the path is logged');
SELECT is((SELECT count(*) FROM pgscale_log WHERE id > :log0 AND action = 'drop_partition'
            AND detail LIKE '%detached concurrently by an earlier run, dropped now%'),
          1::bigint, 'proc detach: the partition an earlier run detached is dropped');
SELECT is((SELECT count(DISTINCT xmin::text) FROM pgscale.pgscale_log WHERE id > :log0 AND action = 'drop_partition'),
          1::bigint, 'proc detach: the detached tables are dropped in one transaction');
SELECT is((SELECT count(*) FROM pg_class WHERE oid IN (SELECT part FROM pgscale_t.pc_drop)), 0::bigint,
          'proc detach: expired partitions gone');
SELECT is((SELECT count(*) FROM pgscale_detached), 0::bigint, 'proc detach: no record left');
SELECT is((SELECT count(*) FROM pgscale_t.pc WHERE ts < current_date - 365), 0::bigint,
          'proc detach: no expired row left');
SELECT bag_eq('SELECT * FROM pgscale_t.pc', 'SELECT * FROM pgscale_t.pc_keep', 'proc detach: every other row kept');

-- the function form and a CALL inside a transaction block drop under
-- ACCESS EXCLUSIVE, as before, and say so
SELECT coalesce(max(id), 0) AS log0 FROM pgscale_log \gset
SELECT is((SELECT partitions_dropped FROM pgscale_cleanup(days => 300, relation => 'pgscale_t.pc')) > 0,
          true, 'function form: partitions dropped');
SELECT is((SELECT bool_and(detail LIKE '%dropped under ACCESS EXCLUSIVE on the parent: in a transaction block or a function form%')
             FROM pgscale_log WHERE id > :log0 AND action = 'drop_partition'),
          true, 'function form: logged as the ACCESS EXCLUSIVE path');
SELECT coalesce(max(id), 0) AS log0 FROM pgscale_log \gset
BEGIN;
CALL pgscale_cleanup_proc(days => 200, relation => 'pgscale_t.pc');
COMMIT;
SELECT is((SELECT count(*) FILTER (WHERE detail LIKE '%dropped under ACCESS EXCLUSIVE on the parent: in a transaction block%') > 0
                  AND bool_and(detail LIKE '%dropped under ACCESS EXCLUSIVE%')
             FROM pgscale_log WHERE id > :log0 AND action = 'drop_partition'),
          true, 'CALL in a transaction block: logged as the ACCESS EXCLUSIVE path');

--
-- A partitioned table that a foreign key references, on_referenced =>
-- 'cascade': the referencing rows are deleted and committed first, then the
-- partition is detached concurrently (DETACH checks that nothing references
-- it) and dropped; the rows that reference kept rows stay.
--
CREATE TABLE pgscale_t.fk_parent (id bigint, ts date NOT NULL, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts);
CREATE TABLE pgscale_t.fk_old PARTITION OF pgscale_t.fk_parent FOR VALUES FROM ('2000-01-01') TO ('2001-01-01');
CREATE TABLE pgscale_t.fk_now PARTITION OF pgscale_t.fk_parent FOR VALUES FROM ('2001-01-01') TO (MAXVALUE);
INSERT INTO pgscale_t.fk_parent VALUES (1, '2000-06-01'), (2, '2000-07-01'), (3, current_date);
CREATE TABLE pgscale_t.fk_child (id bigserial PRIMARY KEY, pid bigint, pts date,
                                 FOREIGN KEY (pid, pts) REFERENCES pgscale_t.fk_parent);
INSERT INTO pgscale_t.fk_child (pid, pts) VALUES (1, '2000-06-01'), (2, '2000-07-01'), (3, current_date);
SELECT pgscale_set_retention('pgscale_t.fk_parent', '30 days', 'ts', on_referenced => 'cascade');
SELECT coalesce(max(id), 0) AS log0 FROM pgscale_log \gset
CALL pgscale_cleanup_proc(relation => 'pgscale_t.fk_parent');
SELECT is((SELECT to_regclass('pgscale_t.fk_old') IS NULL
              AND (SELECT count(*) FROM pgscale_t.fk_child) = 1
              AND (SELECT count(*) FROM pgscale_t.fk_parent) = 1), true,
          'referenced: cascade, then the expired partition detached and dropped, the kept row and its reference stay');
SELECT is((SELECT count(*) FILTER (WHERE action = 'drop_partition' AND detail LIKE '%detached concurrently%')
                  || ' ' || count(*) FILTER (WHERE action = 'error')
             FROM pgscale_log WHERE id > :log0), '1 0', 'referenced: detached concurrently, no error');

--
-- Action 'archive' through the procedure: the expired partitions leave the
-- parent with DETACH PARTITION CONCURRENTLY too, and are moved into the
-- archive schema at the end of the table's run with every row, recorded in
-- pgscale_archive; one of them was detached by an earlier run that crashed
-- before the move (its record says archive, and carries its bounds: the
-- oldest, from MINVALUE, as microseconds since 2000-01-01): it is archived,
-- not dropped.
--
SELECT pgscale_t.make_table('pgscale_t', 'pa', 'ts', 'date', 'nodefault');
SELECT pgscale_t.add_boundary('pgscale_t.pa', 'ts', 'date', '365 days');
SELECT pgscale_set_retention('pgscale_t.pa', '365 days', action => 'archive', archive_schema => 'pgscale_t_arch');
CREATE TABLE pgscale_t.pa_keep AS SELECT * FROM pgscale_t.pa WHERE NOT coalesce(ts < current_date - 365, false);
CREATE TABLE pgscale_t.pa_drop AS
    SELECT part, hi FROM pgscale_t.parts WHERE parent = 'pgscale_t.pa'::regclass AND hi::date <= current_date - 365;
SELECT count(*) AS pa_ndrop FROM pgscale_t.pa_drop \gset
SELECT count(*) AS pa_gone_rows FROM pgscale_t.pa WHERE tableoid IN (SELECT part FROM pgscale_t.pa_drop) \gset
SELECT part::text AS pa_left FROM pgscale_t.pa_drop ORDER BY hi::date LIMIT 1 \gset
SELECT pg_get_expr(relpartbound, oid) AS pa_left_bound, oid AS pa_left_oid FROM pg_class WHERE oid = :'pa_left'::regclass \gset
ALTER TABLE pgscale_t.pa DETACH PARTITION :pa_left CONCURRENTLY;
INSERT INTO pgscale_detached (rel_schema, rel_name, table_name, bound, action, archive_schema, bound_from, bound_to)
SELECT n.nspname, c.relname, 'pgscale_t.pa'::regclass, :'pa_left_bound', 'archive', 'pgscale_t_arch',
       NULL, ((extract(epoch FROM p.hi::timestamp) - 946684800) * 1000000)::bigint
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pgscale_t.parts p ON p.part = c.oid WHERE c.oid = :'pa_left'::regclass;
SELECT coalesce(max(id), 0) AS log0 FROM pgscale_log \gset
CALL pgscale_cleanup_proc(relation => 'pgscale_t.pa');
SELECT is((SELECT count(*) FROM pgscale_log WHERE id > :log0 AND action = 'archive'
            AND detail LIKE 'partition detached concurrently (SHARE UPDATE EXCLUSIVE on the parent), moved to the archive schema%'),
          :pa_ndrop - 1::bigint, 'proc archive: the expired partitions were detached concurrently');
SELECT is((SELECT count(*) FROM pgscale_log WHERE id > :log0 AND action = 'archive'
            AND detail LIKE 'partition detached concurrently by an earlier run, moved to the archive schema%'),
          1::bigint, 'proc archive: the partition an earlier run detached is archived, not dropped');
SELECT is((SELECT count(*) FROM pgscale_log WHERE id > :log0 AND action IN ('drop_partition', 'error')),
          0::bigint, 'proc archive: nothing dropped, no error');
SELECT is((SELECT count(*) FROM pgscale_archive WHERE source_schema = 'pgscale_t' AND source_table = 'pa'
            AND kind = 'partition' AND archive_schema = 'pgscale_t_arch'),
          :pa_ndrop::bigint, 'proc archive: every expired partition recorded in pgscale_archive');
SELECT is((SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'pgscale_t_arch' AND c.relkind = 'r' AND NOT c.relispartition
              AND c.oid IN (SELECT part FROM pgscale_t.pa_drop)),
          :pa_ndrop::bigint, 'proc archive: the partitions are plain tables of the archive schema');
SELECT is((SELECT sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', part), false, true, '')))[1]::text::bigint)
             FROM pgscale_t.pa_drop)::bigint,
          :pa_gone_rows::bigint, 'proc archive: every row of the expired partitions is in the archive');
SELECT is((SELECT count(*) FROM pgscale_detached), 0::bigint, 'proc archive: no record left');
SELECT is((SELECT a.range_from IS NULL AND a.range_to = p.hi::timestamp AND a.archive_table LIKE 'pa\_before\_%'
             FROM pgscale_archive a JOIN pg_class c ON c.relname = a.archive_table
             JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = a.archive_schema
             JOIN pgscale_t.parts p ON p.part = c.oid
            WHERE c.oid = :pa_left_oid),
          true, 'proc archive: the earlier run''s partition is archived with the bounds its record kept');
SELECT bag_eq('SELECT * FROM pgscale_t.pa', 'SELECT * FROM pgscale_t.pa_keep', 'proc archive: the parent holds exactly the kept rows');

--
-- Every policy, with days, through the procedure.
--
CALL pgscale_cleanup_proc(days => 30);
SELECT is((SELECT count(*) FROM pgscale_t.pp WHERE ts < current_date - 30), 0::bigint, 'proc days => 30: plain table cut');
SELECT is((SELECT count(*) FROM pgscale_t.pt WHERE ts < current_date - 30), 0::bigint, 'proc days => 30: partitioned table cut');
SELECT is((SELECT count(*) FROM pgscale_t.core), 4013::bigint, 'proc days => 30: protected table untouched');
SELECT is((SELECT count(*) FROM pgscale_t.pt WHERE ts >= current_date - 30 OR ts IS NULL),
          (SELECT count(*) FROM pgscale_t.pt_keep WHERE ts >= current_date - 30 OR ts IS NULL),
          'proc days => 30: newer rows kept');

SELECT * FROM finish();

-- clean up after ourselves
DROP SCHEMA pgscale_t CASCADE;
DROP SCHEMA IF EXISTS pgscale_t_arch CASCADE;
DELETE FROM pgscale_archive WHERE archive_schema = 'pgscale_t_arch';
\if :made_pgscale
DROP EXTENSION pgscale;
\endif
\if :made_pgtap
DROP EXTENSION pgtap;
\endif
