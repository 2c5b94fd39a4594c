--
-- pgscale_cleanup: exactness, dry run == real run, batches, partitions with a
-- default partition, `days`, protected tables, odd names, the log.
-- Runs in one transaction that is rolled back.
--
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pgscale;
SET LOCAL client_min_messages = warning;
-- A zone with a non-hour offset and no daylight saving time: timestamptz
-- partition bounds fall at local midnights, which are not UTC midnights.
SET LOCAL TimeZone = 'Asia/Kolkata';

\ir fixtures.psql

SELECT plan(22 * 25 + 28);

--
-- Plain tables, one per column type, default batch size.
--
SELECT pgscale_t.make_table('pgscale_t', 'plain_' || typ, 'ts', typ)
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_t.add_boundary(('pgscale_t.plain_' || typ)::regclass, 'ts', typ, '365 days')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_set_retention(('pgscale_t.plain_' || typ)::regclass, '365 days', 'ts')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;

SELECT pgscale_t.check_cleanup('pgscale_t.plain_date', 'ts', 'date', '365 days');
SELECT pgscale_t.check_cleanup('pgscale_t.plain_timestamp', 'ts', 'timestamp', '365 days');
SELECT pgscale_t.check_cleanup('pgscale_t.plain_timestamptz', 'ts', 'timestamptz', '365 days');

--
-- Plain tables, batches of 7 rows (about 300 batches each).
--
SELECT pgscale_t.make_table('pgscale_t', 'b7_' || typ, 'ts', typ)
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_t.add_boundary(('pgscale_t.b7_' || typ)::regclass, 'ts', typ, '400 days')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_set_retention(('pgscale_t.b7_' || typ)::regclass, '400 days', 'ts')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;

SELECT pgscale_t.check_cleanup('pgscale_t.b7_date', 'ts', 'date', '400 days', 7);
SELECT pgscale_t.check_cleanup('pgscale_t.b7_timestamp', 'ts', 'timestamp', '400 days', 7);
SELECT pgscale_t.check_cleanup('pgscale_t.b7_timestamptz', 'ts', 'timestamptz', '400 days', 7);

--
-- Plain tables with an index on the time column, rows stored newest first
-- (ids, and so the heap, go back in time), and few expired rows (730 of 800
-- days kept): the planner finds the expired rows through the index, in time
-- order, not in heap order.
--
SELECT pgscale_t.make_table('pgscale_t', 'ix_' || typ, 'ts', typ, 'indexed')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_set_retention(('pgscale_t.ix_' || typ)::regclass, '730 days', 'ts')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;

SELECT pgscale_t.check_cleanup('pgscale_t.ix_date', 'ts', 'date', '730 days', 50);
SELECT pgscale_t.check_cleanup('pgscale_t.ix_timestamp', 'ts', 'timestamp', '730 days', 50);
SELECT pgscale_t.check_cleanup('pgscale_t.ix_timestamptz', 'ts', 'timestamptz', '730 days', 100);

--
-- The same with batches bounded by ranges of the time column (the strategy
-- for tables without a heap of their own, such as Citus distributed
-- tables), forced by pgscale.batch_strategy: duplicates of the time value
-- at batch boundaries (date: 5 rows a day), NULLs, a default partition.
--
SET LOCAL pgscale.batch_strategy = 'time_range';
SELECT pgscale_t.make_table('pgscale_t', 'tr_' || typ, 'ts', typ)
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_t.add_boundary(('pgscale_t.tr_' || typ)::regclass, 'ts', typ, '365 days')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_set_retention(('pgscale_t.tr_' || typ)::regclass, '365 days', 'ts')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_t.make_table('pgscale_t', 'tr_part', 'ts', 'date', 'default');
SELECT pgscale_t.add_boundary('pgscale_t.tr_part', 'ts', 'date', '365 days');
SELECT pgscale_set_retention('pgscale_t.tr_part', '365 days');

SELECT pgscale_t.check_cleanup('pgscale_t.tr_date', 'ts', 'date', '365 days', 7);
SELECT pgscale_t.check_cleanup('pgscale_t.tr_timestamp', 'ts', 'timestamp', '365 days', 7);
SELECT pgscale_t.check_cleanup('pgscale_t.tr_timestamptz', 'ts', 'timestamptz', '365 days', 100);
SELECT pgscale_t.check_cleanup('pgscale_t.tr_part', 'ts', 'date', '365 days', 7);
SELECT ok((SELECT count(*) FROM pgscale_log WHERE relid = 'pgscale_t.tr_date'::regclass
                                              AND action ~* 'delet' AND detail ~* 'time.range') > 0,
          'time_range strategy was used');
SET LOCAL pgscale.batch_strategy = 'auto';

--
-- Monthly range partitions with a default partition holding old rows, rows
-- of a recent month that has no partition, future rows and NULLs.  The time
-- column is left NULL in the policy: the partition key is used.
--
SELECT pgscale_t.make_table('pgscale_t', 'part_' || typ, 'ts', typ, 'default')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_t.add_boundary(('pgscale_t.part_' || typ)::regclass, 'ts', typ, '365 days')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_set_retention(('pgscale_t.part_' || typ)::regclass, '365 days')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;

SELECT is((SELECT time_column FROM pgscale_policy WHERE table_name = 'pgscale_t.part_date'::regclass),
          'ts'::name, 'partition key taken as the time column');

SELECT pgscale_t.check_cleanup('pgscale_t.part_date', 'ts', 'date', '365 days');
SELECT pgscale_t.check_cleanup('pgscale_t.part_timestamp', 'ts', 'timestamp', '365 days');
SELECT pgscale_t.check_cleanup('pgscale_t.part_timestamptz', 'ts', 'timestamptz', '365 days');

-- the same, trimming the straddling and default partitions 7 rows at a time,
-- with a retention in months
SELECT pgscale_t.make_table('pgscale_t', 'pb7_' || typ, 'ts', typ, 'default')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_t.add_boundary(('pgscale_t.pb7_' || typ)::regclass, 'ts', typ, '13 months')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;
SELECT pgscale_set_retention(('pgscale_t.pb7_' || typ)::regclass, '13 months', 'ts')
  FROM unnest(ARRAY['date', 'timestamp', 'timestamptz']) typ;

SELECT pgscale_t.check_cleanup('pgscale_t.pb7_date', 'ts', 'date', '13 months', 7);
SELECT pgscale_t.check_cleanup('pgscale_t.pb7_timestamp', 'ts', 'timestamp', '13 months', 7);
SELECT pgscale_t.check_cleanup('pgscale_t.pb7_timestamptz', 'ts', 'timestamptz', '13 months', 7);

-- no default partition; a FROM (MINVALUE) partition (dropped) and a
-- TO (MAXVALUE) one (kept)
SELECT pgscale_t.make_table('pgscale_t', 'nodef_date', 'ts', 'date', 'nodefault');
SELECT pgscale_t.add_boundary('pgscale_t.nodef_date', 'ts', 'date', '365 days');
SELECT pgscale_set_retention('pgscale_t.nodef_date', '365 days');
SELECT pgscale_t.check_cleanup('pgscale_t.nodef_date', 'ts', 'date', '365 days');

--
-- `days` overrides the policy's retention.
--
SELECT pgscale_t.make_table('pgscale_t', 'days_plain', 'ts', 'date');
SELECT pgscale_t.add_boundary('pgscale_t.days_plain', 'ts', 'date', '100 days');
SELECT pgscale_set_retention('pgscale_t.days_plain', '730 days', 'ts');
SELECT pgscale_t.check_cleanup('pgscale_t.days_plain', 'ts', 'date', '730 days', 10000, 100);

SELECT pgscale_t.make_table('pgscale_t', 'days_part', 'ts', 'timestamptz', 'default');
SELECT pgscale_t.add_boundary('pgscale_t.days_part', 'ts', 'timestamptz', '200 days');
SELECT pgscale_set_retention('pgscale_t.days_part', '730 days');
SELECT pgscale_t.check_cleanup('pgscale_t.days_part', 'ts', 'timestamptz', '730 days', 10000, 200);

--
-- Odd names: spaces, quotes, semicolons, capitals, in schema, table, column
-- and partition names; and names built to break SQL pasted unquoted.
--
CREATE SCHEMA "Odd Sch; x";
SELECT pgscale_t.make_table('Odd Sch; x', 'Weird "Tbl"; x', 'Day Col', 'date');
SELECT pgscale_t.add_boundary('"Odd Sch; x"."Weird ""Tbl""; x"', 'Day Col', 'date', '365 days');
SELECT pgscale_set_retention('"Odd Sch; x"."Weird ""Tbl""; x"', '365 days', 'Day Col');
SELECT pgscale_t.check_cleanup('"Odd Sch; x"."Weird ""Tbl""; x"', 'Day Col', 'date', '365 days', 100);

SELECT pgscale_t.make_table('Odd Sch; x', 'Part "P"; Y', 'Ts "Col"', 'timestamptz', 'default');
SELECT pgscale_t.add_boundary('"Odd Sch; x"."Part ""P""; Y"', 'Ts "Col"', 'timestamptz', '365 days');
SELECT pgscale_set_retention('"Odd Sch; x"."Part ""P""; Y"', '365 days');
SELECT pgscale_t.check_cleanup('"Odd Sch; x"."Part ""P""; Y"', 'Ts "Col"', 'timestamptz', '365 days', 100);

CREATE TABLE pgscale_t.canary AS SELECT g FROM generate_series(1, 3) g;
SELECT pgscale_t.make_table('pgscale_t', 'x; DROP TABLE pgscale_t.canary; --', 'd); DELETE FROM pgscale_t.canary; --', 'date', 'default');
SELECT pgscale_set_retention('pgscale_t."x; DROP TABLE pgscale_t.canary; --"', '365 days');
SELECT pgscale_t.check_cleanup('pgscale_t."x; DROP TABLE pgscale_t.canary; --"',
                               'd); DELETE FROM pgscale_t.canary; --', 'date', '365 days', 100, NULL, 'injection');
SELECT is((SELECT count(*) FROM pgscale_t.canary), 3::bigint, 'names are never pasted unquoted');

--
-- Protected tables: never cleaned.
--
SELECT pgscale_t.make_table('pgscale_t', 'core', 'ts', 'timestamptz');
SELECT pgscale_t.make_table('pgscale_t', 'core_part', 'ts', 'date', 'default');
SELECT pgscale_protect('pgscale_t.core');
SELECT pgscale_protect('pgscale_t.core_part');
CREATE TABLE pgscale_t.core_before AS SELECT * FROM pgscale_t.core;
CREATE TABLE pgscale_t.core_part_before AS SELECT * FROM pgscale_t.core_part;

SELECT throws_ok($$SELECT * FROM pgscale_cleanup(relation => 'pgscale_t.core')$$, '55000', NULL,
                 'cleanup of a protected table is an error');
SELECT throws_ok($$SELECT * FROM pgscale_cleanup(dry_run => true, relation => 'pgscale_t.core')$$, '55000', NULL,
                 'dry run of a protected table is an error');
SELECT throws_ok($$SELECT * FROM pgscale_cleanup(days => 1, relation => 'pgscale_t.core_part')$$, '55000', NULL,
                 'days does not override protection');

--
-- A table without a policy.
--
SELECT pgscale_t.make_table('pgscale_t', 'nopolicy', 'ts', 'date');
SELECT throws_ok($$SELECT * FROM pgscale_cleanup(relation => 'pgscale_t.nopolicy')$$, NULL, NULL,
                 'cleanup of a table without a policy is an error');
SELECT is((SELECT count(*) FROM pgscale_t.nopolicy), 4013::bigint, 'table without a policy untouched');

--
-- Every policy at once, with `days`: unprotected tables cut to `days`,
-- protected tables skipped and untouched.
--
SELECT pgscale_t.make_table('pgscale_t', 'all_a', 'ts', 'date');
SELECT pgscale_t.make_table('pgscale_t', 'all_b', 'ts', 'timestamptz', 'default');
SELECT pgscale_set_retention('pgscale_t.all_a', '365 days', 'ts');
SELECT pgscale_set_retention('pgscale_t.all_b', '730 days');
CREATE TABLE pgscale_t.all_expect AS
SELECT 'pgscale_t.all_a'::regclass AS t,
       (SELECT count(*) FROM pgscale_t.all_a WHERE ts < current_date - 30) AS expired,
       (SELECT count(*) FROM pgscale_t.all_a WHERE NOT coalesce(ts < current_date - 30, false)) AS live
UNION ALL
SELECT 'pgscale_t.all_b',
       (SELECT count(*) FROM pgscale_t.all_b WHERE ts < now() - interval '30 days'),
       (SELECT count(*) FROM pgscale_t.all_b WHERE NOT coalesce(ts < now() - interval '30 days', false));

CREATE TABLE pgscale_t.all_dry AS SELECT * FROM pgscale_cleanup(dry_run => true, days => 30);
SELECT ok(NOT EXISTS (SELECT FROM pgscale_t.all_dry
                       WHERE table_name IN ('pgscale_t.core'::regclass, 'pgscale_t.core_part'::regclass)),
          'cleanup of every policy skips protected tables');
SELECT is((SELECT count(*) FROM pgscale_t.all_dry WHERE table_name IN (SELECT t FROM pgscale_t.all_expect)),
          2::bigint, 'cleanup of every policy reports each table once');
SELECT is((SELECT count(*) FROM pgscale_t.all_dry WHERE cutoff = now() - interval '30 days'
                                                     AND table_name = 'pgscale_t.all_b'::regclass),
          1::bigint, 'days overrides the retention of every policy');
SELECT is((SELECT count(*) FROM pgscale_t.all_a), 4013::bigint, 'dry run of every policy deletes nothing');

CREATE TABLE pgscale_t.all_real AS SELECT * FROM pgscale_cleanup(days => 30);
SELECT set_eq($$SELECT table_name, partitions_dropped, rows_deleted FROM pgscale_t.all_real
                 WHERE table_name IN (SELECT t FROM pgscale_t.all_expect)$$,
              $$SELECT table_name, partitions_dropped, rows_deleted FROM pgscale_t.all_dry
                 WHERE table_name IN (SELECT t FROM pgscale_t.all_expect)$$,
              'cleanup of every policy does what its dry run said');
SELECT is((SELECT count(*) FROM pgscale_t.all_a), (SELECT live FROM pgscale_t.all_expect WHERE t = 'pgscale_t.all_a'::regclass),
          'days => 30: plain table keeps exactly its last 30 days');
SELECT is((SELECT count(*) FROM pgscale_t.all_b), (SELECT live FROM pgscale_t.all_expect WHERE t = 'pgscale_t.all_b'::regclass),
          'days => 30: partitioned table keeps exactly its last 30 days');
SELECT is((SELECT rows_deleted + 0 FROM pgscale_t.all_real WHERE table_name = 'pgscale_t.all_a'::regclass),
          (SELECT expired FROM pgscale_t.all_expect WHERE t = 'pgscale_t.all_a'::regclass),
          'days => 30: rows_deleted of the plain table is exact');
SELECT bag_eq('SELECT * FROM pgscale_t.core', 'SELECT * FROM pgscale_t.core_before',
              'protected plain table untouched');
SELECT bag_eq('SELECT * FROM pgscale_t.core_part', 'SELECT * FROM pgscale_t.core_part_before',
              'protected partitioned table untouched');
SELECT is((SELECT count(*) FROM pg_inherits WHERE inhparent = 'pgscale_t.core_part'::regclass),
          (SELECT count(*) FROM pgscale_t.parts WHERE parent = 'pgscale_t.core_part'::regclass),
          'protected partitioned table keeps every partition');
SELECT is((SELECT count(*) FROM pgscale_policy WHERE table_name = 'pgscale_t.all_b'::regclass
                                                 AND retention = interval '730 days'),
          1::bigint, 'days does not change the stored policy');

--
-- days => 0 is refused (it meant "before today" for a date column but
-- "before now" for a timestamp one); days => 1 keeps yesterday and today.
--
SELECT pgscale_t.make_table('pgscale_t', 'days0', 'ts', 'date');
SELECT pgscale_set_retention('pgscale_t.days0', '365 days', 'ts');
SELECT throws_ok($$SELECT * FROM pgscale_cleanup(dry_run => true, days => 0, relation => 'pgscale_t.days0')$$,
                 '22023', NULL, 'days => 0 is refused');
SELECT is((SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, days => 1, relation => 'pgscale_t.days0')),
          (SELECT count(*) FROM pgscale_t.days0 WHERE ts < current_date - 1),
          'days => 1 counts every row before yesterday');

--
-- Disabled policy: skipped by a cleanup of every policy.
--
SELECT pgscale_t.make_table('pgscale_t', 'disabled', 'ts', 'date');
SELECT pgscale_set_retention('pgscale_t.disabled', '365 days', 'ts');
UPDATE pgscale_policy SET enabled = false WHERE table_name = 'pgscale_t.disabled'::regclass;
SELECT ok(NOT EXISTS (SELECT FROM pgscale_cleanup() WHERE table_name = 'pgscale_t.disabled'::regclass),
          'cleanup of every policy skips a disabled policy');
SELECT is((SELECT count(*) FROM pgscale_t.disabled), 4013::bigint, 'disabled policy: table untouched');

--
-- A table with inheritance children (pre-10 partitioning): the policy is
-- either refused, or the cleanup leaves no expired row in the children.
--
CREATE TABLE pgscale_t.ih (id int, ts timestamptz);
CREATE TABLE pgscale_t.ih_child () INHERITS (pgscale_t.ih);
INSERT INTO pgscale_t.ih SELECT g, now() - g * interval '1 day' FROM generate_series(1, 800) g;
INSERT INTO pgscale_t.ih_child SELECT g, now() - g * interval '1 day' FROM generate_series(1, 800) g;
CREATE TABLE pgscale_t.ih_state AS
    SELECT (pgscale_t.err($$SELECT pgscale_set_retention('pgscale_t.ih', '365 days', 'ts')$$)).state AS s;
SELECT FROM pgscale_t.ih_state, pgscale_t.err($$SELECT * FROM pgscale_cleanup(relation => 'pgscale_t.ih')$$) WHERE s = 'ok';
SELECT ok((SELECT s FROM pgscale_t.ih_state) <> 'ok'
          OR (SELECT count(*) FROM pgscale_t.ih WHERE ts < now() - interval '365 days') = 0,
          'inheritance parent: policy refused, or no expired row left in its children');

--
-- One broken policy (its time column was dropped; a rename is followed) does not stop the
-- cleanup of every other policy; it is logged as an error.
--
SELECT pgscale_t.make_table('pgscale_t', 'broken', 'ts', 'date');
SELECT pgscale_t.make_table('pgscale_t', 'healthy', 'ts', 'date');
SELECT pgscale_set_retention('pgscale_t.broken', '365 days', 'ts');
SELECT pgscale_set_retention('pgscale_t.healthy', '365 days', 'ts');
ALTER TABLE pgscale_t.broken DROP COLUMN ts CASCADE;
SELECT coalesce(max(id), 0) AS log0 FROM pgscale_log \gset
SELECT is((pgscale_t.err($$SELECT * FROM pgscale_cleanup()$$)).state, 'ok',
          'cleanup of every policy survives a broken policy');
SELECT is((SELECT count(*) FROM pgscale_t.healthy WHERE ts < current_date - 365), 0::bigint,
          'the other policies are enforced');
SELECT ok(EXISTS (SELECT FROM pgscale_log WHERE id > :log0 AND action ~* 'error'
                                          AND relid = 'pgscale_t.broken'::regclass),
          'the broken policy is logged as an error');

SELECT * FROM finish();
ROLLBACK;
