--
-- Policies: set, protect, remove; bad input; permissions; odd names.
-- Runs in one transaction that is rolled back.
--
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pgscale;
SET LOCAL client_min_messages = warning;

\ir fixtures.psql

SELECT no_plan();

--
-- Catalog
--
SELECT ok((SELECT 'pgscale.pgscale_policy'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'pgscale'),
          'pgscale_policy is dumped by pg_dump');

--
-- set, update, protect, remove
--
SELECT pgscale_t.make_table('pgscale_t', 'a', 'ts', 'date');
SELECT pgscale_t.make_table('pgscale_t', 'p', 'created', 'timestamptz', 'default');

SELECT lives_ok($$SELECT pgscale_set_retention('pgscale_t.a', '365 days', 'ts')$$, 'set_retention on a plain table');
SELECT is((SELECT count(*) FROM pgscale_policy
            WHERE table_name = 'pgscale_t.a'::regclass AND time_column = 'ts' AND retention = '365 days'
              AND NOT protected AND enabled),
          1::bigint, 'policy row written');
SELECT lives_ok($$SELECT pgscale_set_retention('pgscale_t.a', '2 years', 'ts')$$, 'set_retention again');
SELECT is((SELECT count(*) FROM pgscale_policy WHERE table_name = 'pgscale_t.a'::regclass), 1::bigint,
          'still one policy row');
SELECT is((SELECT retention FROM pgscale_policy WHERE table_name = 'pgscale_t.a'::regclass), '2 years'::interval,
          'retention updated');

SELECT lives_ok($$SELECT pgscale_set_retention('pgscale_t.p', '30 days')$$, 'set_retention on a partitioned table without a column');
SELECT is((SELECT time_column FROM pgscale_policy WHERE table_name = 'pgscale_t.p'::regclass), 'created'::name,
          'partition key used as the time column');

SELECT lives_ok($$SELECT pgscale_protect('pgscale_t.a')$$, 'protect a table that has a retention');
SELECT is((SELECT count(*) FROM pgscale_policy
            WHERE table_name = 'pgscale_t.a'::regclass AND protected AND retention IS NULL),
          1::bigint, 'protected, retention cleared');
SELECT throws_ok($$SELECT pgscale_set_retention('pgscale_t.a', '365 days', 'ts')$$, '55000', NULL,
                 'set_retention on a protected table is an error');
SELECT is((SELECT count(*) FROM pgscale_policy WHERE table_name = 'pgscale_t.a'::regclass AND protected),
          1::bigint, 'still protected');
SELECT lives_ok($$SELECT pgscale_protect('pgscale_t.a')$$, 'protect twice');

SELECT is(pgscale_remove_policy('pgscale_t.a'), true, 'remove_policy returns true when there was a policy');
SELECT is((SELECT count(*) FROM pgscale_policy WHERE table_name = 'pgscale_t.a'::regclass), 0::bigint,
          'policy row removed');
SELECT is(pgscale_remove_policy('pgscale_t.a'), false, 'remove_policy returns false when there is none');
SELECT lives_ok($$SELECT pgscale_set_retention('pgscale_t.a', '365 days', 'ts')$$,
                'set_retention after the protection was removed');

SELECT pgscale_t.make_table('pgscale_t', 'b', 'ts', 'timestamp');
SELECT lives_ok($$SELECT pgscale_protect('pgscale_t.b')$$, 'protect a table without a policy');
SELECT is((SELECT count(*) FROM pgscale_policy WHERE table_name = 'pgscale_t.b'::regclass AND protected), 1::bigint,
          'protected policy row written');

--
-- Dropping a table forgets its policy
--
SELECT pgscale_t.make_table('pgscale_t', 'gone', 'ts', 'date');
SELECT pgscale_set_retention('pgscale_t.gone', '1 day', 'ts');
CREATE TABLE pgscale_t.gone_oid AS SELECT 'pgscale_t.gone'::regclass::oid AS o;
DROP TABLE pgscale_t.gone;
SELECT is((SELECT count(*) FROM pgscale_policy WHERE table_name::oid = (SELECT o FROM pgscale_t.gone_oid)), 0::bigint,
          'DROP TABLE forgets the policy');
CREATE SCHEMA pgscale_t2;
SELECT pgscale_t.make_table('pgscale_t2', 'gone2', 'ts', 'date');
SELECT pgscale_set_retention('pgscale_t2.gone2', '1 day', 'ts');
TRUNCATE pgscale_t.gone_oid;
INSERT INTO pgscale_t.gone_oid SELECT 'pgscale_t2.gone2'::regclass::oid;
DROP SCHEMA pgscale_t2 CASCADE;
SELECT is((SELECT count(*) FROM pgscale_policy WHERE table_name::oid = (SELECT o FROM pgscale_t.gone_oid)), 0::bigint,
          'DROP SCHEMA forgets the policy');

--
-- Settings exist once the library is loaded
--
SELECT ok(current_setting('pgscale.lock_timeout', true) IS NOT NULL, 'setting pgscale.lock_timeout exists');
SELECT ok(current_setting('pgscale.log_retention', true) IS NOT NULL, 'setting pgscale.log_retention exists');

--
-- Bad input: each is an ERROR with the right SQLSTATE, a message in
-- PostgreSQL's style (lower case first letter, no final period) and a hint,
-- and changes nothing.
--
SELECT pgscale_t.make_table('pgscale_t', 'np', 'ts', 'date');        -- no policy
CREATE TABLE pgscale_t.intkey (id int, ts date, n int) PARTITION BY RANGE (n);
CREATE TABLE pgscale_t.listkey (id int, ts date) PARTITION BY LIST (ts);
CREATE TABLE pgscale_t.twokey (id int, ts date, n int) PARTITION BY RANGE (ts, n);
CREATE TABLE pgscale_t.exprkey (id int, ts timestamp) PARTITION BY RANGE ((ts::date));
CREATE VIEW pgscale_t.v AS SELECT * FROM pgscale_t.np;
CREATE SEQUENCE pgscale_t.s;
CREATE TABLE pgscale_t.policy_before AS SELECT * FROM pgscale_policy;
CREATE TABLE pgscale_t.np_before AS SELECT * FROM pgscale_t.np;
CREATE TABLE pgscale_t.p_before AS SELECT * FROM pgscale_t.p;

CREATE TABLE pgscale_t.bad (n serial, sql text, state text, pgscale_error boolean DEFAULT true);
INSERT INTO pgscale_t.bad (sql, state, pgscale_error) VALUES
    -- unknown table: raised by regclass input, before pgscale runs
    ($$SELECT pgscale_set_retention('pgscale_t.no_such_table', '1 day', 'ts')$$, '42P01', false),
    ($$SELECT pgscale_protect('pgscale_t.no_such_table')$$, '42P01', false),
    ($$SELECT * FROM pgscale_cleanup(relation => 'pgscale_t.no_such_table')$$, '42P01', false),
    -- unknown column, column of another type
    ($$SELECT pgscale_set_retention('pgscale_t.np', '1 day', 'no_such_column')$$, '42703', true),
    ($$SELECT pgscale_set_retention('pgscale_t.np', '1 day', 'TS')$$, '42703', true),
    ($$SELECT pgscale_set_retention('pgscale_t.np', '1 day', 'v')$$, '42804', true),
    ($$SELECT pgscale_set_retention('pgscale_t.np', '1 day', 'note')$$, '42804', true),
    -- zero or negative retention
    ($$SELECT pgscale_set_retention('pgscale_t.np', '0 days', 'ts')$$, '22023', true),
    ($$SELECT pgscale_set_retention('pgscale_t.np', '-5 days', 'ts')$$, '22023', true),
    ($$SELECT pgscale_set_retention('pgscale_t.np', '1 day -24 hours', 'ts')$$, '22023', true),
    ($$SELECT pgscale_set_retention('pgscale_t.p', '-1 month')$$, '22023', true),
    -- no column given and no usable range partition key
    ($$SELECT pgscale_set_retention('pgscale_t.np', '1 day')$$, '22023', true),
    ($$SELECT pgscale_set_retention('pgscale_t.intkey', '1 day')$$, '42804', true),
    ($$SELECT pgscale_set_retention('pgscale_t.listkey', '1 day')$$, '22023', true),
    ($$SELECT pgscale_set_retention('pgscale_t.twokey', '1 day')$$, '22023', true),
    ($$SELECT pgscale_set_retention('pgscale_t.exprkey', '1 day')$$, '22023', true),
    -- not a table
    ($$SELECT pgscale_set_retention('pgscale_t.v', '1 day', 'ts')$$, '42809', true),
    ($$SELECT pgscale_set_retention('pgscale_t.s', '1 day', 'ts')$$, '42809', true),
    ($$SELECT pgscale_protect('pgscale_t.v')$$, '42809', true),
    -- NULL required arguments
    ($$SELECT pgscale_set_retention(NULL, '1 day', 'ts')$$, '22004', true),
    ($$SELECT pgscale_set_retention('pgscale_t.np', NULL, 'ts')$$, '22004', true),
    ($$SELECT pgscale_protect(NULL)$$, '22004', true),
    ($$SELECT pgscale_remove_policy(NULL)$$, '22004', true),
    -- cleanup arguments
    ($$SELECT * FROM pgscale_cleanup(days => -1)$$, '22023', true),
    ($$SELECT * FROM pgscale_cleanup(days => -1, relation => 'pgscale_t.p')$$, '22023', true),
    ($$SELECT * FROM pgscale_cleanup(batch_size => 0)$$, '22023', true),
    ($$SELECT * FROM pgscale_cleanup(batch_size => -7, relation => 'pgscale_t.p')$$, '22023', true),
    ($$SELECT * FROM pgscale_cleanup(dry_run => true, batch_size => 0)$$, '22023', true),
    -- protected table, table without a policy
    ($$SELECT pgscale_set_retention('pgscale_t.b', '1 day', 'ts')$$, '55000', true),
    ($$SELECT * FROM pgscale_cleanup(relation => 'pgscale_t.b')$$, '55000', true),
    ($$SELECT * FROM pgscale_cleanup(relation => 'pgscale_t.np')$$, '42704', true);

SELECT is((pgscale_t.err(sql)).state, state, format('bad input %s: %s', n, sql))
  FROM pgscale_t.bad ORDER BY n;
SELECT ok(e.msg ~ '^([a-z]|")' AND e.msg !~ '\.$', format('message style %s: %s', n, e.msg))
  FROM pgscale_t.bad, pgscale_t.err(sql) e WHERE pgscale_error ORDER BY n;
SELECT ok(coalesce(e.hint, '') <> '', format('hint %s: %s', n, sql))
  FROM pgscale_t.bad, pgscale_t.err(sql) e WHERE pgscale_error ORDER BY n;

SELECT bag_eq('SELECT * FROM pgscale_policy', 'SELECT * FROM pgscale_t.policy_before',
              'bad input changes no policy');
SELECT bag_eq('SELECT * FROM pgscale_t.np', 'SELECT * FROM pgscale_t.np_before',
              'bad input deletes nothing (plain)');
SELECT bag_eq('SELECT * FROM pgscale_t.p', 'SELECT * FROM pgscale_t.p_before',
              'bad input deletes nothing (partitioned)');

--
-- Permissions: only the owner, or a member of the owning role, manages a
-- table's policy and cleans it.
--
CREATE ROLE pgscale_t_owner NOLOGIN;
CREATE ROLE pgscale_t_other NOLOGIN;
CREATE ROLE pgscale_t_member NOLOGIN IN ROLE pgscale_t_owner;
CREATE ROLE pgscale_t_noinherit NOLOGIN NOINHERIT IN ROLE pgscale_t_owner;
GRANT USAGE ON SCHEMA pgscale_t TO pgscale_t_owner, pgscale_t_other, pgscale_t_member, pgscale_t_noinherit;
SELECT pgscale_t.make_table('pgscale_t', 'owned', 'ts', 'date');
SELECT pgscale_t.make_table('pgscale_t', 'owned2', 'ts', 'date');
SELECT pgscale_t.make_table('pgscale_t', 'owned3', 'ts', 'date');
ALTER TABLE pgscale_t.owned OWNER TO pgscale_t_owner;
ALTER TABLE pgscale_t.owned2 OWNER TO pgscale_t_owner;
ALTER TABLE pgscale_t.owned3 OWNER TO pgscale_t_owner;
-- table privileges are not ownership
GRANT ALL ON pgscale_t.owned, pgscale_t.owned2 TO pgscale_t_other;
SELECT pgscale_set_retention('pgscale_t.owned2', '365 days', 'ts');
SELECT pgscale_protect('pgscale_t.owned3');
TRUNCATE pgscale_t.policy_before;
INSERT INTO pgscale_t.policy_before SELECT * FROM pgscale_policy;

SELECT is((pgscale_t.err_as('pgscale_t_other', $$SELECT pgscale_set_retention('pgscale_t.owned', '365 days', 'ts')$$)).state,
          '42501', 'non-owner cannot set a retention');
SELECT is((pgscale_t.err_as('pgscale_t_other', $$SELECT pgscale_set_retention('pgscale_t.owned2', '1 day', 'ts')$$)).state,
          '42501', 'non-owner cannot change a retention');
SELECT is((pgscale_t.err_as('pgscale_t_other', $$SELECT pgscale_protect('pgscale_t.owned')$$)).state,
          '42501', 'non-owner cannot protect');
SELECT is((pgscale_t.err_as('pgscale_t_other', $$SELECT pgscale_remove_policy('pgscale_t.owned2')$$)).state,
          '42501', 'non-owner cannot remove a policy');
SELECT is((pgscale_t.err_as('pgscale_t_other', $$SELECT pgscale_remove_policy('pgscale_t.owned3')$$)).state,
          '42501', 'non-owner cannot remove a protection');
-- (the ownership is checked first: a non-owner does not even see the
-- table's policy, pgscale_policy shows each role its own tables' policies)
SELECT is((pgscale_t.err_as('pgscale_t_other', $$SELECT * FROM pgscale_cleanup(relation => 'pgscale_t.owned2')$$)).state,
          '42501', 'non-owner cannot clean a table');
SELECT is((pgscale_t.err_as('pgscale_t_other', $$SELECT * FROM pgscale_cleanup(dry_run => true, relation => 'pgscale_t.owned2')$$)).state,
          '42501', 'non-owner cannot preview the cleanup of a table');
SELECT is((pgscale_t.err_as('pgscale_t_other', $$SELECT pgscale_set_retention('pgscale_t.owned', '365 days', 'ts')$$)).hint IS NOT NULL,
          true, 'permission error has a hint');
-- a cleanup of every policy by a non-owner may fail or skip, but never touches the owner's table
SELECT FROM pgscale_t.err_as('pgscale_t_other', $$SELECT * FROM pgscale_cleanup(days => 1)$$);
SELECT is((SELECT count(*) FROM pgscale_t.owned2), 4013::bigint,
          'cleanup of every policy by a non-owner leaves the owner''s table alone');
SELECT is((pgscale_t.err_as('pgscale_t_other', $$INSERT INTO pgscale_policy (table_name, time_column, retention) VALUES ('pgscale_t.owned', 'ts', '1 day')$$)).state,
          '42501', 'non-owner cannot write pgscale_policy directly');
SELECT is((pgscale_t.err_as('pgscale_t_other', $$INSERT INTO pgscale_log (table_name, action, source) VALUES ('x', 'drop', 'manual')$$)).state,
          '42501', 'non-owner cannot write pgscale_log directly');
SELECT bag_eq('SELECT * FROM pgscale_policy', 'SELECT * FROM pgscale_t.policy_before',
              'refused calls change no policy');

SELECT is((pgscale_t.err_as('pgscale_t_noinherit', $$SELECT pgscale_set_retention('pgscale_t.owned', '365 days', 'ts')$$)).state,
          '42501', 'NOINHERIT member does not own the table');

SELECT is((pgscale_t.err_as('pgscale_t_member', $$SELECT pgscale_set_retention('pgscale_t.owned', '365 days', 'ts')$$)).state,
          'ok', 'member of the owning role sets a retention');
SELECT is((SELECT count(*) FROM pgscale_policy WHERE table_name = 'pgscale_t.owned'::regclass AND retention = '365 days'),
          1::bigint, 'member''s policy written');
SELECT is((pgscale_t.err_as('pgscale_t_member', $$SELECT * FROM pgscale_cleanup(relation => 'pgscale_t.owned')$$)).state,
          'ok', 'member of the owning role cleans the table');
SELECT is((SELECT count(*) FROM pgscale_t.owned WHERE ts < current_date - 365), 0::bigint,
          'member''s cleanup deleted the expired rows');
SELECT is((pgscale_t.err_as('pgscale_t_member', $$SELECT pgscale_protect('pgscale_t.owned')$$)).state,
          'ok', 'member of the owning role protects');
SELECT is((pgscale_t.err_as('pgscale_t_member', $$SELECT pgscale_remove_policy('pgscale_t.owned')$$)).state,
          'ok', 'member of the owning role removes the policy');
SELECT is((pgscale_t.err_as('pgscale_t_owner', $$SELECT pgscale_set_retention('pgscale_t.owned', '30 days', 'ts')$$)).state,
          'ok', 'owner sets a retention');
SELECT is((pgscale_t.err_as('pgscale_t_owner', $$SELECT * FROM pgscale_cleanup(dry_run => true, relation => 'pgscale_t.owned')$$)).state,
          'ok', 'owner previews the cleanup');
SELECT is((pgscale_t.err_as('pgscale_t_other', $$SELECT count(*) FROM pgscale_policy$$)).state,
          'ok', 'everyone may query pgscale_policy');
SET ROLE pgscale_t_other;
SELECT count(*) AS other_sees FROM pgscale_policy \gset
RESET ROLE;
SELECT is(:other_sees::bigint, 0::bigint,
          '... and a role that owns none of the tables sees none of their policies');

--
-- Odd names in policy calls
--
CREATE SCHEMA "Odd Sch; x";
SELECT pgscale_t.make_table('Odd Sch; x', 'Weird "Tbl"; x', 'Day Col', 'timestamp');
SELECT pgscale_t.make_table('Odd Sch; x', 'Weird "Part"; y', 'Day "Col"', 'date', 'default');
SELECT lives_ok($$SELECT pgscale_set_retention('"Odd Sch; x"."Weird ""Tbl""; x"', '365 days', 'Day Col')$$,
                'set_retention with odd table and column names');
SELECT is((SELECT time_column FROM pgscale_policy WHERE table_name = '"Odd Sch; x"."Weird ""Tbl""; x"'::regclass),
          'Day Col'::name, 'odd column name stored as is');
SELECT lives_ok($$SELECT pgscale_set_retention('"Odd Sch; x"."Weird ""Part""; y"', '365 days')$$,
                'set_retention on a partitioned table with odd names');
SELECT is((SELECT time_column FROM pgscale_policy WHERE table_name = '"Odd Sch; x"."Weird ""Part""; y"'::regclass),
          'Day "Col"'::name, 'odd partition key stored as is');
SELECT throws_ok($$SELECT pgscale_set_retention('"Odd Sch; x"."Weird ""Tbl""; x"', '365 days', 'day col')$$, '42703', NULL,
                 'column names are case sensitive');
SELECT lives_ok($$SELECT pgscale_protect('"Odd Sch; x"."Weird ""Tbl""; x"')$$, 'protect with odd names');
SELECT throws_ok($$SELECT * FROM pgscale_cleanup(relation => '"Odd Sch; x"."Weird ""Tbl""; x"')$$, '55000', NULL,
                 'protected table with odd names refused');
SELECT is(pgscale_remove_policy('"Odd Sch; x"."Weird ""Tbl""; x"'), true, 'remove_policy with odd names');

SELECT * FROM finish();
ROLLBACK;
