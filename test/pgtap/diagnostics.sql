--
-- Diagnostics (issue 4): signatures, the false positives an index report
-- must avoid, a standby-like read-only transaction and a pg_monitor-only
-- role.  Runs in one transaction that is rolled back, so it works whether
-- or not pgtap and pgscale were created beforehand.  Usage counters are
-- not flushed inside a transaction: the tests that need scans are in the
-- pg_regress suite (sql/diagnostics.sql).
--
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pgscale;
CREATE EXTENSION IF NOT EXISTS pgstattuple;
RESET client_min_messages;

SELECT plan(74);

--
-- Signatures, exactly as the issue gives them.
--
SELECT is(pg_get_function_result(p::regprocedure), r, p || ' returns ' || left(r, 40) || '...')
  FROM (VALUES
    ('pgscale_unused_indexes(bigint)',
     'TABLE(schema_name name, table_name name, index_name name, idx_scan bigint, index_bytes bigint, index_size text, reason text, drop_statement text)'),
    ('pgscale_duplicate_indexes()',
     'TABLE(schema_name name, table_name name, index_name name, covered_by name, kind text, index_bytes bigint, drop_statement text)'),
    ('pgscale_space_report(integer)',
     'TABLE(schema_name name, table_name name, total_bytes bigint, table_bytes bigint, index_bytes bigint, toast_bytes bigint, estimated_rows bigint, total_size text)'),
    ('pgscale_health()',
     'TABLE(check_name text, status text, value text, threshold text, advice text)'),
    ('pgscale_snapshot_sizes()', 'integer')
  ) AS sig(p, r);

SELECT is(pg_get_function_arguments(p::regprocedure), a, p || ' takes ' || a)
  FROM (VALUES
    ('pgscale_unused_indexes(bigint)', 'min_scans bigint DEFAULT 100'),
    ('pgscale_missing_indexes(bigint)', 'min_rows bigint DEFAULT 10000'),
    ('pgscale_table_bloat(boolean)', 'exact boolean DEFAULT false'),
    ('pgscale_slow_queries(integer)', 'lim integer DEFAULT 20'),
    ('pgscale_space_report(integer)', 'lim integer DEFAULT 20'),
    ('pgscale_growth_forecast(interval)', 'horizon interval DEFAULT ''90 days''::interval')
  ) AS sig(p, a);

SELECT has_table('pgscale', 'pgscale_size_history', 'pgscale_size_history is a table in schema pgscale');

-- every diagnostic pins its search_path; only the snapshot writes, and only
-- the superuser (or a role granted it) may run it
SELECT is(count(*), 0::bigint, 'every diagnostic runs with a pinned search_path and jit off')
  FROM pg_proc p
 WHERE p.proname IN ('pgscale_unused_indexes', 'pgscale_duplicate_indexes', 'pgscale_missing_indexes',
                     'pgscale_table_bloat', 'pgscale_slow_queries', 'pgscale_space_report',
                     'pgscale_health', 'pgscale_snapshot_sizes', 'pgscale_growth_forecast',
                     'pgscale_scaling_advice')
   AND NOT (p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp', 'jit=off']);
SELECT is(count(*), 9::bigint, 'the read-only diagnostics are STABLE')
  FROM pg_proc p
 WHERE p.proname IN ('pgscale_unused_indexes', 'pgscale_duplicate_indexes', 'pgscale_missing_indexes',
                     'pgscale_table_bloat', 'pgscale_slow_queries', 'pgscale_space_report',
                     'pgscale_health', 'pgscale_growth_forecast', 'pgscale_scaling_advice')
   AND p.provolatile = 's';
SELECT ok(NOT has_function_privilege('public', 'pgscale_snapshot_sizes()', 'EXECUTE'),
          'PUBLIC may not run pgscale_snapshot_sizes()');
SELECT ok(has_function_privilege('public', 'pgscale_health()', 'EXECUTE'),
          'PUBLIC may run pgscale_health()');

--
-- Fixtures (created in this transaction: no usage counters yet).
--
CREATE SCHEMA diagtap;
CREATE TABLE diagtap.t (
    id      bigint PRIMARY KEY,
    a       integer NOT NULL,
    b       text,
    r       int4range,
    code    integer NOT NULL CONSTRAINT t_code_key UNIQUE,
    ident   integer NOT NULL,
    CONSTRAINT t_r_excl EXCLUDE USING gist (r WITH &&)
);
INSERT INTO diagtap.t
SELECT g, g % 100, 'row ' || g, int4range(g * 10, g * 10 + 5), g, g
  FROM generate_series(1, 2000) g;
CREATE UNIQUE INDEX t_ident_idx ON diagtap.t (ident);
ALTER TABLE diagtap.t REPLICA IDENTITY USING INDEX t_ident_idx;
CREATE UNIQUE INDEX t_b_uniq ON diagtap.t (b);
CREATE INDEX t_a_idx ON diagtap.t (a);
CREATE INDEX t_lower_b_idx ON diagtap.t (lower(b));
CREATE INDEX t_a_partial_idx ON diagtap.t (a) WHERE a > 50;
CREATE INDEX t_broken_idx ON diagtap.t (a, id);
-- an invalid index, as a failed CREATE INDEX CONCURRENTLY leaves it
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'diagtap.t_broken_idx'::regclass;
CREATE TABLE diagtap.child (t_code integer REFERENCES diagtap.t (code));

CREATE TABLE diagtap.p (id bigint, d date NOT NULL, v integer, PRIMARY KEY (id, d))
    PARTITION BY RANGE (d);
CREATE TABLE diagtap.p1 PARTITION OF diagtap.p FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
CREATE TABLE diagtap.p2 PARTITION OF diagtap.p FOR VALUES FROM ('2025-02-01') TO ('2025-03-01');
CREATE TABLE diagtap.p2_sub PARTITION OF diagtap.p FOR VALUES FROM ('2025-03-01') TO ('2025-05-01')
    PARTITION BY RANGE (d);
CREATE TABLE diagtap.p3 PARTITION OF diagtap.p2_sub FOR VALUES FROM ('2025-03-01') TO ('2025-05-01');
INSERT INTO diagtap.p SELECT g, date '2025-01-01' + (g % 110), g FROM generate_series(1, 3000) g;
CREATE INDEX p_v_idx ON diagtap.p (v);

CREATE TEMP TABLE unused AS SELECT * FROM pgscale_unused_indexes() WHERE schema_name = 'diagtap';

--
-- pgscale_unused_indexes()
--
SELECT is((SELECT count(*) FROM unused
            WHERE index_name IN ('t_pkey', 't_code_key', 't_r_excl', 't_ident_idx', 't_b_uniq',
                                 'p_pkey', 'p1_pkey', 'p2_pkey', 'p3_pkey', 'p2_sub_pkey')),
          0::bigint, 'no index that enforces a primary key, unique or exclusion constraint, nor the replica identity');
SELECT is((SELECT count(*) FROM unused WHERE table_name IN ('p1', 'p2', 'p3', 'p2_sub')),
          0::bigint, 'no index of a partition that is attached to a partitioned index');
SELECT is((SELECT reason ~ 'summed over 3 partitions' FROM unused WHERE index_name = 'p_v_idx'),
          true, 'the partitioned index sums its 3 leaf partitions (two levels)');
SELECT is((SELECT index_bytes FROM unused WHERE index_name = 'p_v_idx'),
          (SELECT sum(pg_relation_size(c.oid))::bigint FROM pg_class c
            WHERE c.relname IN ('p1_v_idx', 'p2_v_idx', 'p3_v_idx')
              AND c.relnamespace = 'diagtap'::regnamespace),
          'the partitioned index size is the sum of its partitions''');
SELECT is((SELECT drop_statement FROM unused WHERE index_name = 'p_v_idx'),
          '-- verify first: DROP INDEX diagtap.p_v_idx;',
          'a partitioned index is dropped without CONCURRENTLY (and verified first: young statistics)');
SELECT ok((SELECT reason ~ '^verify: planner statistics \(expression index' FROM unused WHERE index_name = 't_lower_b_idx'),
          'an expression index says verify: planner statistics');
SELECT ok((SELECT reason ~ '^verify: planner statistics \(partial index' FROM unused WHERE index_name = 't_a_partial_idx'),
          'a partial index says verify: planner statistics');
SELECT ok((SELECT drop_statement ~ '^-- verify first: ' FROM unused WHERE index_name = 't_lower_b_idx'),
          'an expression index''s drop statement is commented out');
SELECT ok((SELECT reason ~ '^invalid' FROM unused WHERE index_name = 't_broken_idx'),
          'an invalid index says invalid');
SELECT is((SELECT drop_statement FROM unused WHERE index_name = 't_broken_idx'),
          'DROP INDEX CONCURRENTLY diagtap.t_broken_idx;', 'an invalid index can be dropped as is');
SELECT ok((SELECT reason ~ '^unused; 0 scans, statistics' FROM unused WHERE index_name = 't_a_idx'),
          'a plain index never scanned is unused, with the statistics'' age');
SELECT ok((SELECT bool_and(reason ~ 'statistics (\d+ days? old|age unknown)') FROM unused),
          'every row says how old the statistics are');
SELECT ok((SELECT bool_and((reason ~ 'under 30 days') = (s.age < interval '30 days'))
             FROM unused,
                  (SELECT now() - greatest(d.stats_reset, b.stats_reset) AS age
                     FROM pg_stat_bgwriter b
                     LEFT JOIN pg_stat_database d ON d.datname = current_database()) s),
          'the reason says "under 30 days" exactly when the statistics are younger');
SELECT ok((SELECT bool_and(drop_statement ~ '^(-- verify first: )?DROP INDEX (CONCURRENTLY )?diagtap\.') FROM unused),
          'every drop statement is qualified');
SELECT throws_ok('SELECT * FROM pgscale_unused_indexes(-1)', '22023', NULL, 'min_scans below 0 is refused');

--
-- pgscale_duplicate_indexes()
--
CREATE TABLE diagtap.dup (id integer PRIMARY KEY, a integer, b integer, c text);
CREATE INDEX dup_a ON diagtap.dup (a);
CREATE INDEX dup_a_copy ON diagtap.dup (a);
CREATE INDEX dup_ab ON diagtap.dup (a, b);
CREATE INDEX dup_id ON diagtap.dup (id);
CREATE INDEX dup_b_desc ON diagtap.dup (b DESC);
CREATE INDEX dup_c_pattern ON diagtap.dup (c text_pattern_ops);
CREATE INDEX dup_c ON diagtap.dup (c);
CREATE INDEX dup_c_partial ON diagtap.dup (c) WHERE a > 0;
CREATE INDEX dup_b_hash ON diagtap.dup USING hash (b);
SELECT set_eq($$SELECT index_name::text, covered_by::text, kind FROM pgscale_duplicate_indexes()
                WHERE schema_name = 'diagtap'$$,
              $$VALUES ('dup_a_copy', 'dup_a', 'exact'), ('dup_a', 'dup_ab', 'prefix'),
                       ('dup_id', 'dup_pkey', 'exact')$$,
              'exact and prefix duplicates; other order, opclass, predicate or method are not duplicates');
SELECT is((SELECT count(*) FROM pgscale_duplicate_indexes() WHERE index_name IN ('dup_pkey', 't_pkey')),
          0::bigint, 'never the primary key');

--
-- pgscale_space_report(), pgscale_missing_indexes()
--
ANALYZE diagtap.p;
SELECT is((SELECT total_bytes FROM pgscale_space_report(1000) WHERE schema_name = 'diagtap' AND table_name = 'p'),
          (SELECT sum(pg_total_relation_size(c))::bigint
             FROM unnest(ARRAY['diagtap.p1'::regclass, 'diagtap.p2'::regclass, 'diagtap.p3'::regclass]) c),
          'space report sums the partitions at the partitioned table');
SELECT is((SELECT estimated_rows FROM pgscale_space_report(1000) WHERE schema_name = 'diagtap' AND table_name = 'p'),
          3000::bigint, 'and their row estimates');
SELECT is((SELECT count(*) FROM pgscale_space_report(1000)
            WHERE schema_name = 'diagtap' AND table_name IN ('p1', 'p2', 'p3', 'p2_sub')),
          0::bigint, 'partitions have no row of their own');
SELECT lives_ok('SELECT * FROM pgscale_missing_indexes()', 'missing indexes run');

--
-- pgscale_table_bloat(): no VACUUM in a transaction, but ANALYZE counts the
-- live rows while the dead ones still fill the pages.
--
CREATE TABLE diagtap.bloated (id integer, payload text);
INSERT INTO diagtap.bloated SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g;
DELETE FROM diagtap.bloated WHERE id % 10 <> 0;
ANALYZE diagtap.bloated;
SELECT ok((SELECT wasted_percent > 50 AND method = 'estimate' FROM pgscale_table_bloat()
            WHERE schema_name = 'diagtap' AND table_name = 'bloated' AND kind = 'table'),
          'the estimate sees a table with 90% of its rows deleted as bloated');
SELECT ok((SELECT advice LIKE 'give the space back online with CALL pgscale_reclaim(''diagtap.bloated'')%' FROM pgscale_table_bloat()
            WHERE schema_name = 'diagtap' AND table_name = 'bloated' AND kind = 'table'),
          'and says how to reclaim it');
SELECT ok((SELECT method = 'pgstattuple' AND wasted_percent > 50 FROM pgscale_table_bloat(exact => true)
            WHERE schema_name = 'diagtap' AND table_name = 'bloated' AND kind = 'table'),
          'pgstattuple measures it when asked');

--
-- pgscale_slow_queries(): the column names of the installed version
-- (1.7 has total_time / mean_time, 1.8 and later total_exec_time ...).
--
SET LOCAL client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_stat_statements;
RESET client_min_messages;
SELECT is((SELECT count(*) FROM pgscale_slow_queries()), 0::bigint,
          'no pg_stat_statements: no rows (and a NOTICE)');
CREATE EXTENSION pg_stat_statements VERSION '1.7';
SELECT ok(EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'pg_stat_statements'::regclass
                                            AND attname = 'mean_time'),
          'pg_stat_statements 1.7 names its columns mean_time');
SELECT CASE WHEN current_setting('pg_stat_statements.max', true) IS NULL
            THEN skip('pg_stat_statements is not preloaded', 2)
            ELSE collect_tap(
                   lives_ok('SELECT * FROM pgscale_slow_queries()', 'slow queries read pg_stat_statements 1.7'),
                   ok((SELECT count(*) > 0 FROM pgscale_slow_queries(5)), 'and find statements'))
       END;
ALTER EXTENSION pg_stat_statements UPDATE;
SELECT CASE WHEN current_setting('pg_stat_statements.max', true) IS NULL
            THEN skip('pg_stat_statements is not preloaded', 2)
            ELSE collect_tap(
                   lives_ok('SELECT * FROM pgscale_slow_queries()', 'slow queries read the current pg_stat_statements'),
                   ok((SELECT bool_and(mean_ms >= 0 AND calls > 0) FROM pgscale_slow_queries(5)),
                      'with calls and mean times'))
       END;

--
-- History and forecast.
--
SELECT ok(pgscale_snapshot_sizes() > 0, 'pgscale_snapshot_sizes() records tables');
SELECT is((SELECT count(*) FROM pgscale_size_history
            WHERE schema_name = 'diagtap' AND table_name IN ('p1', 'p2', 'p3')), 0::bigint,
          'partitions are recorded at their parent');
CREATE TABLE diagtap.growing (v integer);
INSERT INTO pgscale_size_history (taken_at, schema_name, table_name, total_bytes)
SELECT now() - make_interval(days => 10 - g), 'diagtap', 'growing', 1000000 + g * 50000
  FROM generate_series(0, 10) g;
SELECT is((SELECT bytes_per_day FROM pgscale_growth_forecast() WHERE table_name = 'growing'),
          50000::bigint, 'the fit finds 50,000 bytes a day');
SELECT is((SELECT forecast_bytes FROM pgscale_growth_forecast('90 days') WHERE table_name = 'growing'),
          1500000::bigint + 90 * 50000, 'and forecasts 90 days ahead on the line');

--
-- pgscale_health(), pgscale_scaling_advice()
--
SELECT is((SELECT count(*) FROM pgscale_health()
            WHERE status NOT IN ('ok', 'warn', 'critical', 'unknown')
               OR (status <> 'ok') <> (advice IS NOT NULL)), 0::bigint,
          'every check is ok, warn, critical or unknown, and says what to do unless ok');
SELECT ok((SELECT count(*) >= 11 FROM pgscale_health()), 'at least the eleven checks of the issue');
SELECT set_has($$SELECT check_name FROM pgscale_health()$$,
               $$VALUES ('cache hit ratio'), ('client connections'), ('slow queries'),
                        ('table and index bloat'), ('unused indexes'), ('missing indexes'),
                        ('stale statistics'), ('vacuum backlog'), ('transaction ID wraparound'),
                        ('sequences near their maximum'), ('storage growth'), ('retention policies')$$,
               'the issue''s checks are all there');
SELECT is((SELECT status FROM pgscale_health() WHERE check_name = 'invalid indexes'), 'warn',
          'the invalid index is a warning');
SELECT is((SELECT status FROM pgscale_health() WHERE check_name = 'storage growth'), 'ok',
          'growth is judged once there are snapshots');
SELECT set_eq($$SELECT DISTINCT tier FROM pgscale_scaling_advice()$$, ARRAY[1, 2, 3, 4],
              'scaling advice covers the four tiers');
SELECT ok((SELECT bool_and(verdict IN ('now', 'plan', 'not yet', 'done', 'outgrown')) FROM pgscale_scaling_advice()),
          'and gives each action a verdict');
SELECT ok((SELECT string_agg(action, ' ') ~* 'pgbouncer.*redis.*replica.*partition.*timescaledb.*citus'
             FROM pgscale_scaling_advice()),
          'PgBouncer, Redis, read replica, partitioning, TimescaleDB, Citus');

--
-- A role with only pg_monitor.
--
CREATE ROLE regress_diagtap_monitor IN ROLE pg_monitor;
CREATE TEMP TABLE super_unused AS SELECT index_name, reason FROM pgscale_unused_indexes();
CREATE TEMP TABLE super_bloat AS SELECT coalesce(index_name, table_name) AS obj, wasted_bytes FROM pgscale_table_bloat();
GRANT SELECT ON super_unused, super_bloat TO regress_diagtap_monitor;
SET LOCAL ROLE regress_diagtap_monitor;
SELECT set_eq('SELECT index_name, reason FROM pgscale_unused_indexes()', 'SELECT * FROM super_unused',
              'pg_monitor: the same unused indexes as the superuser');
SELECT set_eq('SELECT coalesce(index_name, table_name), wasted_bytes FROM pgscale_table_bloat()',
              'SELECT * FROM super_bloat',
              'pg_monitor: the same bloat estimates (no pg_stats privilege needed)');
SELECT ok((SELECT method = 'pgstattuple' FROM pgscale_table_bloat(true)
            WHERE schema_name = 'diagtap' AND table_name = 'bloated' AND kind = 'table'),
          'pg_monitor: exact bloat through pgstattuple');
SELECT lives_ok('SELECT * FROM pgscale_duplicate_indexes()', 'pg_monitor: duplicate indexes');
SELECT lives_ok('SELECT * FROM pgscale_missing_indexes()', 'pg_monitor: missing indexes');
SELECT lives_ok('SELECT * FROM pgscale_space_report()', 'pg_monitor: space report');
SELECT lives_ok('SELECT * FROM pgscale_slow_queries()', 'pg_monitor: slow queries');
SELECT lives_ok('SELECT * FROM pgscale_growth_forecast()', 'pg_monitor: growth forecast');
SELECT lives_ok('SELECT * FROM pgscale_scaling_advice()', 'pg_monitor: scaling advice');
SELECT is((SELECT count(*) FROM pgscale_health() WHERE status NOT IN ('ok', 'warn', 'critical', 'unknown')),
          0::bigint, 'pg_monitor: health');
SELECT throws_ok('SELECT pgscale_snapshot_sizes()', '42501', NULL, 'pg_monitor may not write the history');
RESET ROLE;

--
-- A read-only transaction, as on a hot standby.
--
SET LOCAL transaction_read_only = on;
SELECT lives_ok('SELECT * FROM pgscale_unused_indexes()', 'read-only: unused indexes');
SELECT lives_ok('SELECT * FROM pgscale_table_bloat(true)', 'read-only: exact bloat');
SELECT lives_ok('SELECT * FROM pgscale_health()', 'read-only: health');
SELECT lives_ok('SELECT * FROM pgscale_scaling_advice()', 'read-only: scaling advice');
SELECT throws_ok('SELECT pgscale_snapshot_sizes()', '25006', NULL, 'read-only: no snapshot');

SELECT * FROM finish();
ROLLBACK;
