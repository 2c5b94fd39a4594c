--
-- Diagnostics (issue 4): every false positive an index or health report
-- must avoid, each with its fixture.  Output depends on no time, size or
-- OID: the assertions are booleans and counts.
--
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pgstattuple') AS made_pgstattuple \gset
CREATE EXTENSION IF NOT EXISTS pgscale;
CREATE EXTENSION IF NOT EXISTS pgstattuple;
DROP EXTENSION IF EXISTS pg_stat_statements;
DROP SCHEMA IF EXISTS diag CASCADE;
DROP ROLE IF EXISTS regress_pgscale_monitor;
RESET client_min_messages;

CREATE SCHEMA diag;
SET search_path = diag, public;

-- Counters start now: "recently reset statistics" for every row below.
SELECT pg_stat_reset() IS NOT NULL AS reset;

--
-- Fixtures.  Autovacuum stays away so that catalog figures hold still.
--
CREATE TABLE diag.t (
    id      bigint PRIMARY KEY,
    a       integer NOT NULL,
    b       text,
    r       int4range,
    code    integer NOT NULL,
    ident   integer NOT NULL,
    CONSTRAINT t_code_key UNIQUE (code),
    CONSTRAINT t_r_excl EXCLUDE USING gist (r WITH &&)
) WITH (autovacuum_enabled = false);
INSERT INTO diag.t
SELECT g, g % 100, 'row ' || g, int4range(g * 10, g * 10 + 5), g, g
  FROM generate_series(1, 5000) g;
CREATE UNIQUE INDEX t_ident_idx ON diag.t (ident);
ALTER TABLE diag.t REPLICA IDENTITY USING INDEX t_ident_idx;
CREATE UNIQUE INDEX t_b_uniq ON diag.t (b);           -- enforces uniqueness, no constraint
CREATE INDEX t_a_idx ON diag.t (a);                   -- plain, never scanned
CREATE INDEX t_lower_b_idx ON diag.t (lower(b));      -- expression
CREATE INDEX t_a_partial_idx ON diag.t (a) WHERE a > 50;  -- partial
CREATE INDEX "T b ""quoted""" ON diag.t (b, a);       -- needs quoting

-- A referenced unique index (a foreign key depends on it).
CREATE TABLE diag.child (t_code integer REFERENCES diag.t (code))
    WITH (autovacuum_enabled = false);

-- Invalid: a unique index built concurrently over duplicates.
CREATE TABLE diag.dups (v integer) WITH (autovacuum_enabled = false);
INSERT INTO diag.dups VALUES (1), (1), (2);
CREATE UNIQUE INDEX CONCURRENTLY dups_v_idx ON diag.dups (v);

-- A used index: scanned once.
CREATE TABLE diag.used (id integer, v integer) WITH (autovacuum_enabled = false);
INSERT INTO diag.used SELECT g, g FROM generate_series(1, 1000) g;
CREATE INDEX used_v_idx ON diag.used (v);
ANALYZE diag.used;
SET enable_seqscan = off;
SELECT count(*) AS one FROM diag.used WHERE v = 7;
RESET enable_seqscan;

-- A partitioned table: its index is reported once, at the parent.
CREATE TABLE diag.p (id bigint, d date NOT NULL, v integer, PRIMARY KEY (id, d))
    PARTITION BY RANGE (d);
CREATE TABLE diag.p_2025_01 PARTITION OF diag.p
    FOR VALUES FROM ('2025-01-01') TO ('2025-02-01') WITH (autovacuum_enabled = false);
CREATE TABLE diag.p_2025_02 PARTITION OF diag.p
    FOR VALUES FROM ('2025-02-01') TO ('2025-03-01') WITH (autovacuum_enabled = false);
INSERT INTO diag.p SELECT g, date '2025-01-01' + (g % 59), g FROM generate_series(1, 3000) g;
CREATE INDEX p_v_idx ON diag.p (v);
-- and a local index on one partition only, reported with that partition
CREATE INDEX p_2025_01_d_idx ON diag.p_2025_01 (d);

-- Tables without any index (idx_scan is NULL), and one with an index but
-- read by sequential scans.
CREATE TABLE diag.noidx (v integer) WITH (autovacuum_enabled = false);
INSERT INTO diag.noidx SELECT g FROM generate_series(1, 5000) g;
CREATE TABLE diag.seqread (id integer PRIMARY KEY, v integer) WITH (autovacuum_enabled = false);
INSERT INTO diag.seqread SELECT g, g FROM generate_series(1, 5000) g;
SELECT count(*) FROM diag.noidx WHERE v > 10;
SELECT count(*) FROM diag.noidx WHERE v > 20;
SELECT count(*) FROM diag.seqread WHERE v > 10;
SELECT count(*) FROM diag.seqread WHERE v > 20;

-- Counters reach the shared statistics when this backend next goes idle.
SELECT pg_stat_force_next_flush() IS NOT NULL AS flushed;

--
-- pgscale_unused_indexes()
--
SELECT index_name, reason ~ '^unused' AS unused,
       reason ~ '^verify: planner statistics' AS verify,
       reason ~ '^invalid' AS invalid,
       reason ~ 'statistics \d+ days? old \(under 30 days: verify before dropping\)' AS young_stats,
       reason ~ 'summed over 2 partitions' AS summed,
       drop_statement
  FROM pgscale_unused_indexes()
 WHERE schema_name = 'diag'
 ORDER BY index_name COLLATE "C";

-- Never: primary key, unique constraint, exclusion constraint, plain
-- unique index, replica identity, referenced by a foreign key, the
-- partitions' own copies of a partitioned index.
SELECT count(*) AS wrongly_listed
  FROM pgscale_unused_indexes(1000000)
 WHERE schema_name = 'diag'
   AND index_name IN ('t_pkey', 't_code_key', 't_r_excl', 't_b_uniq', 't_ident_idx',
                      'p_pkey', 'p_2025_01_v_idx', 'p_2025_02_v_idx',
                      'p_2025_01_pkey', 'p_2025_02_pkey', 'seqread_pkey');

-- The used index: not under min_scans => 1, "rarely used" under 1000.
SELECT count(*) AS listed_at_1 FROM pgscale_unused_indexes(1) WHERE index_name = 'used_v_idx';
SELECT idx_scan, reason ~ '^rarely used; 1 scan,' AS rarely
  FROM pgscale_unused_indexes(1000) WHERE index_name = 'used_v_idx';

-- Sizes are measured, pretty-printed, and largest first.
SELECT bool_and(index_bytes >= 0) AS sized, bool_and(index_size ~ '(bytes|kB|MB)$') AS pretty
  FROM pgscale_unused_indexes() WHERE schema_name = 'diag';
SELECT bool_and(ordered) AS largest_first
  FROM (SELECT index_bytes <= lag(index_bytes) OVER () AS ordered
          FROM pgscale_unused_indexes()) s
 WHERE ordered IS NOT NULL;

-- The partitioned index's size is the sum of its partitions'.
SELECT index_bytes = (SELECT sum(pg_relation_size(i)) FROM unnest(ARRAY[
           'diag.p_2025_01_v_idx'::regclass, 'diag.p_2025_02_v_idx'::regclass]) i) AS summed_size
  FROM pgscale_unused_indexes() WHERE index_name = 'p_v_idx';

-- Arguments.
-- an index that serves a foreign key's referencing column is not droppable,
-- however few scans it shows: deletes on the referenced table use it
CREATE TABLE diag.fk_parent (id int PRIMARY KEY);
CREATE TABLE diag.fk_child (id int, parent_id int REFERENCES diag.fk_parent, note text);
CREATE INDEX fk_child_parent_idx ON diag.fk_child (parent_id);
CREATE INDEX fk_child_note_idx ON diag.fk_child (note);
SELECT index_name FROM pgscale_unused_indexes(1000000)
 WHERE schema_name = 'diag' AND table_name = 'fk_child' ORDER BY 1;
DROP TABLE diag.fk_child, diag.fk_parent;
SELECT count(*) FROM pgscale_unused_indexes(-1);
SELECT count(*) FROM pgscale_unused_indexes(NULL);

--
-- pgscale_duplicate_indexes()
--
CREATE TABLE diag.dup (id integer PRIMARY KEY, a integer, b integer, c text)
    WITH (autovacuum_enabled = false);
CREATE INDEX dup_a_1 ON diag.dup (a);
CREATE INDEX dup_a_2 ON diag.dup (a);                 -- exact copy of dup_a_1
CREATE INDEX dup_ab ON diag.dup (a, b);               -- dup_a_1 leads it
CREATE INDEX dup_id ON diag.dup (id);                 -- copy of the primary key
CREATE INDEX dup_b_desc ON diag.dup (b DESC);         -- not a copy of (b)
CREATE INDEX dup_b ON diag.dup (b);
CREATE INDEX dup_c_pattern ON diag.dup (c text_pattern_ops);  -- other opclass
CREATE INDEX dup_c ON diag.dup (c);
CREATE INDEX dup_c_partial ON diag.dup (c) WHERE a > 0;       -- other predicate
CREATE INDEX dup_lower_1 ON diag.dup (lower(c));
CREATE INDEX dup_lower_2 ON diag.dup (lower(c));      -- exact, expressions
CREATE INDEX dup_b_hash ON diag.dup USING hash (b);   -- other access method
CREATE INDEX dup_b_incl ON diag.dup (b) INCLUDE (c);  -- covers dup_b
CREATE UNIQUE INDEX dup_ab_uniq ON diag.dup (a, b);   -- exact to dup_ab, unique kept

SELECT index_name, covered_by, kind, drop_statement
  FROM pgscale_duplicate_indexes()
 WHERE schema_name = 'diag'
 ORDER BY index_name COLLATE "C";

-- A partitioned table's duplicate is reported at the parent only.
CREATE INDEX p_v_idx2 ON diag.p (v);
SELECT index_name, covered_by, kind, drop_statement, index_bytes > 0 AS sized
  FROM pgscale_duplicate_indexes()
 WHERE schema_name = 'diag' AND table_name LIKE 'p%'
 ORDER BY index_name COLLATE "C";
DROP INDEX diag.p_v_idx2;

--
-- pgscale_missing_indexes(): the table without any index is counted.
--
SELECT table_name, idx_scan IS NULL AS no_index, index_count, seq_scan >= 2 AS seq,
       live_rows, table_bytes > 0 AS sized,
       advice ~ '^no index at all' AS advice_noindex,
       advice ~ '^mostly sequential scans' AS advice_seq
  FROM pgscale_missing_indexes(1000)
 WHERE schema_name = 'diag'
 ORDER BY table_name COLLATE "C";
SELECT count(*) AS over_min_rows FROM pgscale_missing_indexes(10000) WHERE schema_name = 'diag';
SELECT count(*) FROM pgscale_missing_indexes(-5);

--
-- pgscale_space_report(): partitions summed at their parent.
--
-- (analyzed first: whether CREATE INDEX on the parent sets the partitions'
-- row counts depends on the server version)
ANALYZE diag.p;
SELECT table_name, total_bytes = table_bytes + index_bytes + toast_bytes AS adds_up,
       estimated_rows
  FROM pgscale_space_report(1000)
 WHERE schema_name = 'diag' AND table_name LIKE 'p%';
SELECT total_bytes = (SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY[
           'diag.p_2025_01'::regclass, 'diag.p_2025_02'::regclass]) c) AS matches_server
  FROM pgscale_space_report(1000) WHERE schema_name = 'diag' AND table_name = 'p';
SELECT total_bytes = pg_total_relation_size('diag.t') AS matches_server
  FROM pgscale_space_report(1000) WHERE schema_name = 'diag' AND table_name = 't';
SELECT count(*) AS rows_at_lim_2 FROM pgscale_space_report(2);
SELECT count(*) FROM pgscale_space_report(0);

--
-- pgscale_table_bloat(): estimate from the catalogs, exact via pgstattuple.
--
CREATE TABLE diag.bloated (id integer, payload text) WITH (autovacuum_enabled = false);
INSERT INTO diag.bloated SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
CREATE INDEX bloated_id_idx ON diag.bloated (id);
DELETE FROM diag.bloated WHERE id % 10 <> 0;
VACUUM ANALYZE diag.bloated;
CREATE TABLE diag.packed (id integer, payload text) WITH (autovacuum_enabled = false);
INSERT INTO diag.packed SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
CREATE INDEX packed_id_idx ON diag.packed (id);
VACUUM ANALYZE diag.packed;
-- (the counters so far reach the statistics before the checks below read them)
SELECT pg_stat_force_next_flush() IS NOT NULL AS flushed;

SELECT table_name, index_name, kind, method, wasted_percent > 50 AS bloated,
       wasted_percent < 20 AS packed, relation_bytes > 0 AS sized
  FROM pgscale_table_bloat()
 WHERE schema_name = 'diag' AND table_name IN ('bloated', 'packed')
 ORDER BY table_name, index_name NULLS FIRST;
SELECT table_name, index_name, method, wasted_percent > 50 AS bloated,
       wasted_percent < 20 AS packed
  FROM pgscale_table_bloat(exact => true)
 WHERE schema_name = 'diag' AND table_name IN ('bloated', 'packed')
 ORDER BY table_name, index_name NULLS FIRST;

--
-- pgscale_slow_queries() without pg_stat_statements: a NOTICE, no rows.
--
SELECT count(*) AS slow FROM pgscale_slow_queries();
SELECT count(*) FROM pgscale_slow_queries(0);

--
-- Size history, forecast.
--
SELECT pgscale_snapshot_sizes() > 0 AS recorded;
SELECT count(*) > 0 AS has_rows, bool_and(total_bytes IS NOT NULL) AS sized,
       count(*) FILTER (WHERE schema_name = 'diag' AND table_name LIKE 'p\_%') AS partitions
  FROM pgscale_size_history;
-- twice in one transaction: the same snapshot, updated
BEGIN;
SELECT pgscale_snapshot_sizes() = pgscale_snapshot_sizes() AS same;
COMMIT;
-- a table growing by 1 MB a day for ten days (the forecast runs a moment
-- after the rows were written: "on the line" within a kilobyte)
CREATE TABLE diag.growing (v integer);
INSERT INTO pgscale_size_history (taken_at, schema_name, table_name, total_bytes)
SELECT now() - make_interval(days => 10 - g), 'diag', 'growing', 10485760 + g * 1048576
  FROM generate_series(0, 10) g;
SELECT samples, current_bytes, bytes_per_day,
       abs(forecast_bytes - (20971520 + 30 * 1048576)) < 1000 AS on_line,
       fit_r2 > 0.999 AS fits
  FROM pgscale_growth_forecast('30 days') WHERE table_name = 'growing';
SELECT count(*) FROM pgscale_growth_forecast('-1 day');
SELECT count(*) FROM pgscale_growth_forecast(NULL);
-- a dropped table leaves the forecast
DROP TABLE diag.growing;
SELECT count(*) AS dropped_gone FROM pgscale_growth_forecast() WHERE table_name = 'growing';

--
-- pgscale_health()
--
SELECT check_name FROM pgscale_health();
SELECT count(*) AS bad_rows
  FROM pgscale_health()
 WHERE status NOT IN ('ok', 'warn', 'critical', 'unknown')
    OR (status <> 'ok' AND advice IS NULL)
    OR (status = 'ok' AND advice IS NOT NULL)
    OR value IS NULL OR threshold IS NULL;
-- young statistics: unused indexes cannot be judged
SELECT status FROM pgscale_health() WHERE check_name = 'unused indexes';
SELECT check_name, status, value ~ '^(1|6 indexes, \d+ kB)$' AS value_ok
  FROM pgscale_health() WHERE check_name IN ('invalid indexes', 'duplicate indexes');
SELECT status, value FROM pgscale_health() WHERE check_name = 'missing indexes';
SELECT status, value FROM pgscale_health() WHERE check_name = 'slow queries';
SELECT status FROM pgscale_health() WHERE check_name = 'locked relations';

-- retention policies: the latest run of one failed (a retention no row of
-- diag.p outlives, so that only the log decides)
INSERT INTO pgscale_policy (table_name, time_column, retention) VALUES ('diag.p', 'd', '100 years');
INSERT INTO pgscale_log (table_name, relid, action, rows, source)
VALUES ('diag.p', 'diag.p'::regclass, 'delete', 10, 'worker');
SELECT status, value ~ '^1 enabled, 0 failing' AS value_ok
  FROM pgscale_health() WHERE check_name = 'retention policies';
INSERT INTO pgscale_log (logged_at, table_name, relid, action, source, detail)
VALUES (clock_timestamp() + interval '1 second', 'diag.p', 'diag.p'::regclass, 'error', 'worker', 'lock timeout');
SELECT status, value ~ '^1 enabled, 1 failing \(diag.p\)' AS value_ok
  FROM pgscale_health() WHERE check_name = 'retention policies';
DELETE FROM pgscale_policy WHERE table_name = 'diag.p'::regclass;
DELETE FROM pgscale_log WHERE relid = 'diag.p'::regclass;
-- judged on the outcome: expired rows still there after the last run are
-- failing even when later entries (premake, ANALYZE) are not errors
CREATE TABLE diag.kept (d timestamptz NOT NULL);
CREATE INDEX ON diag.kept (d);
INSERT INTO diag.kept SELECT now() - g * interval '1 day' FROM generate_series(0, 40) g;
INSERT INTO pgscale_policy (table_name, time_column, retention) VALUES ('diag.kept', 'd', '10 days');
INSERT INTO pgscale_log (table_name, relid, action, source)
VALUES ('diag.kept', 'diag.kept'::regclass, 'analyze', 'worker');
SELECT status, value ~ '^1 enabled, 1 failing \(diag.kept\)' AS value_ok
  FROM pgscale_health() WHERE check_name = 'retention policies';
DELETE FROM diag.kept WHERE d < now() - interval '10 days';
SELECT status, value ~ '^1 enabled, 0 failing' AS value_ok
  FROM pgscale_health() WHERE check_name = 'retention policies';
DELETE FROM pgscale_policy WHERE table_name = 'diag.kept'::regclass;
DELETE FROM pgscale_log WHERE relid = 'diag.kept'::regclass;
DROP TABLE diag.kept;

-- sequences: one at 80% of its int column's range
CREATE TABLE diag.seqs (id serial);
SELECT setval('diag.seqs_id_seq', 1717986918) IS NOT NULL AS set;
SELECT status, value ~ 'diag.seqs_id_seq at 80' AS value_ok
  FROM pgscale_health() WHERE check_name = 'sequences near their maximum';
DROP TABLE diag.seqs;

--
-- pgscale_scaling_advice()
--
SELECT tier, tier_name, action FROM pgscale_scaling_advice();
SELECT count(*) AS bad_verdicts FROM pgscale_scaling_advice()
 WHERE verdict NOT IN ('now', 'plan', 'not yet', 'done', 'outgrown');

--
-- A read-only transaction stands in for a hot standby: every function
-- reads, only pgscale_snapshot_sizes() refuses.
--
BEGIN READ ONLY;
SELECT count(*) > 0 AS unused FROM pgscale_unused_indexes();
SELECT count(*) > 0 AS dups FROM pgscale_duplicate_indexes();
SELECT count(*) > 0 AS missing FROM pgscale_missing_indexes(1000);
SELECT count(*) > 0 AS bloat FROM pgscale_table_bloat();
SELECT count(*) > 0 AS bloat_exact FROM pgscale_table_bloat(true);
SELECT count(*) = 0 AS slow FROM pgscale_slow_queries();
SELECT count(*) > 0 AS space FROM pgscale_space_report();
SELECT count(*) > 0 AS health FROM pgscale_health();
SELECT count(*) >= 0 AS forecast FROM pgscale_growth_forecast();
SELECT count(*) > 0 AS advice FROM pgscale_scaling_advice();
SELECT pgscale_snapshot_sizes();
ROLLBACK;
SET default_transaction_read_only = on;
SELECT count(*) > 0 AS health FROM pgscale_health();
SELECT pgscale_snapshot_sizes();
RESET default_transaction_read_only;

--
-- A role with only pg_monitor sees what the superuser sees.  (Temporary
-- tables hold the results: the diagnostics never list them.)
--
CREATE FUNCTION pg_temp.results() RETURNS TABLE (fn text, obj text, detail text)
LANGUAGE sql AS $$
SELECT 'unused', index_name::text, reason FROM pgscale_unused_indexes() WHERE schema_name = 'diag'
UNION ALL
SELECT 'dup', index_name, covered_by || kind FROM pgscale_duplicate_indexes() WHERE schema_name = 'diag'
UNION ALL
SELECT 'missing', table_name, advice FROM pgscale_missing_indexes(1000) WHERE schema_name = 'diag'
UNION ALL
SELECT 'bloat', coalesce(index_name, table_name), wasted_bytes::text
  FROM pgscale_table_bloat() WHERE schema_name = 'diag'
UNION ALL
SELECT 'bloat_exact', coalesce(index_name, table_name), method
  FROM pgscale_table_bloat(true) WHERE schema_name = 'diag'
UNION ALL
SELECT 'space', table_name, total_bytes::text FROM pgscale_space_report(1000) WHERE schema_name = 'diag'
UNION ALL
SELECT 'health', check_name, status FROM pgscale_health()
 WHERE check_name IN ('slow queries', 'table and index bloat', 'unused indexes', 'invalid indexes',
                      'duplicate indexes', 'missing indexes', 'retention policies', 'locked relations')
$$;
SELECT pg_stat_force_next_flush() IS NOT NULL AS flushed;
CREATE TEMP TABLE expected AS SELECT * FROM pg_temp.results();
CREATE ROLE regress_pgscale_monitor IN ROLE pg_monitor;
SET ROLE regress_pgscale_monitor;
CREATE TEMP TABLE actual AS SELECT * FROM pg_temp.results();
-- pgscale_log's sequence is not readable by this role: counted, not guessed
SELECT status, value ~ '^\d+ sequences? not readable by this role' AS value_ok,
       advice ~ 'Grant SELECT on the sequences' AS advice_ok
  FROM pgscale_health() WHERE check_name = 'sequences near their maximum';
SELECT count(*) > 0 AS history_readable FROM pgscale_size_history;
SELECT pgscale_snapshot_sizes();
RESET ROLE;
SELECT (SELECT count(*) FROM expected) > 40 AS compared,
       (SELECT count(*) FROM (SELECT * FROM expected EXCEPT SELECT * FROM actual) d) AS missing,
       (SELECT count(*) FROM (SELECT * FROM actual EXCEPT SELECT * FROM expected) d) AS extra;

--
-- Clean up.
--
SET client_min_messages = warning;
DROP TABLE expected, actual;
DROP SCHEMA diag CASCADE;
DROP ROLE regress_pgscale_monitor;
DELETE FROM pgscale_size_history;
\if :made_pgstattuple
DROP EXTENSION pgstattuple;
\endif
RESET client_min_messages;

-- pgscale_report(): the heading and its six sections
SELECT count(*) FILTER (WHERE line LIKE '== %') AS sections,
       bool_or(line LIKE 'pgscale report: database %') AS heading
FROM pgscale_report() AS line;
