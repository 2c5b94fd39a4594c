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

SELECT plan(26);

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
SELECT cmp_ok((SELECT count(DISTINCT xmin::text) FROM pgscale_log WHERE id > :log0 AND action ~* 'drop')::int,
              '=', :pt_ndrop, 'proc partitioned: each drop logged by its own transaction');

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
\if :made_pgscale
DROP EXTENSION pgscale;
\endif
\if :made_pgtap
DROP EXTENSION pgtap;
\endif
