-- pgscale_reclaim and pgscale_space_reclaimable: the space of purged rows
-- given back online.  Sizes differ between builds, so every check is a
-- count or a boolean.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;
CREATE EXTENSION IF NOT EXISTS amcheck;

-- The seed's table, append-mostly, then a purge of its older half.
CREATE TABLE rc_usage (
    id bigserial PRIMARY KEY,
    team_id integer NOT NULL,
    created_at timestamptz NOT NULL,
    tokens integer,
    note text
);
CREATE INDEX rc_usage_created ON rc_usage (created_at);
CREATE INDEX rc_usage_team ON rc_usage (team_id, created_at);
INSERT INTO rc_usage (team_id, created_at, tokens, note)
SELECT g % 37, '2025-01-01'::timestamptz + g * interval '1 minute', g % 1000,
       md5(g::text)
FROM generate_series(1, 60000) g;
DELETE FROM rc_usage WHERE id <= 30000;

CREATE TABLE rc_before AS
SELECT pg_relation_size('rc_usage') AS bytes, count(*) AS n,
       md5(string_agg(r::text, ',' ORDER BY id)) AS digest
FROM rc_usage r;

-- What could be returned, before: about half the file.
VACUUM rc_usage;
SELECT returnable_bytes > file_bytes * 0.4 AS half_returnable,
       reusable_bytes >= returnable_bytes AS reusable_covers_it
FROM pgscale_space_reclaimable('rc_usage');

-- A dry run moves nothing.
CALL pgscale_reclaim('rc_usage', dry_run => true);
SELECT pg_relation_size('rc_usage') = bytes AS unchanged FROM rc_before;

-- The compaction: at least 40% of the file returned, every row kept.
CALL pgscale_reclaim('rc_usage');
SELECT pg_relation_size('rc_usage') <= b.bytes * 0.6 AS returned_40_percent,
       count(*) = b.n AS same_count,
       md5(string_agg(r::text, ',' ORDER BY id)) = b.digest AS same_rows
FROM rc_usage r, rc_before b
GROUP BY b.bytes, b.n, b.digest;

-- Every index valid and consistent with the heap.
SELECT count(*) AS indexes_checked
FROM (SELECT bt_index_check(i.indexrelid, true)
      FROM pg_index i WHERE i.indrelid = 'rc_usage'::regclass) c;
SELECT count(*) FILTER (WHERE NOT indisvalid) AS invalid_indexes
FROM pg_index WHERE indrelid = 'rc_usage'::regclass;

-- The log says what it did.
SELECT action, rows > 0 AS moved_rows, detail LIKE 'returned % bytes (% to %); stopped because %' AS detail_ok
FROM pgscale_log WHERE relid = 'rc_usage'::regclass AND action = 'reclaim';

-- A second call finds nothing left to move.
CREATE TEMP TABLE rc_after AS SELECT pg_relation_size('rc_usage') AS bytes;
CALL pgscale_reclaim('rc_usage');
SELECT pg_relation_size('rc_usage') <= bytes AS no_growth FROM rc_after;

-- max_duration must be positive.
CALL pgscale_reclaim('rc_usage', max_duration => '0 seconds');

-- Refusals, each before anything is moved.
BEGIN;
CALL pgscale_reclaim('rc_usage');
ROLLBACK;

CREATE TABLE rc_trig (id int PRIMARY KEY, v text);
CREATE FUNCTION rc_touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER rc_touch BEFORE UPDATE ON rc_trig FOR EACH ROW EXECUTE FUNCTION rc_touch();
CALL pgscale_reclaim('rc_trig');
ALTER TABLE rc_trig DISABLE TRIGGER rc_touch;
CALL pgscale_reclaim('rc_trig');  -- a disabled trigger does not fire: allowed
DROP TRIGGER rc_touch ON rc_trig;

CREATE TABLE rc_rule (id int, v text);
CREATE TABLE rc_rule_log (id int);
CREATE RULE rc_rule_upd AS ON UPDATE TO rc_rule DO ALSO INSERT INTO rc_rule_log VALUES (NEW.id);
CALL pgscale_reclaim('rc_rule');

CREATE TABLE rc_pub (id int PRIMARY KEY, v text);
SET client_min_messages = error;  -- wal_level's warning differs between versions
CREATE PUBLICATION rc_pub_p FOR TABLE rc_pub;
SET client_min_messages = warning;
CALL pgscale_reclaim('rc_pub');
CALL pgscale_reclaim('rc_pub', allow_replicated => true);
DROP PUBLICATION rc_pub_p;

CREATE TABLE rc_parted (id int, at date) PARTITION BY RANGE (at);
CALL pgscale_reclaim('rc_parted');
CREATE VIEW rc_view AS SELECT 1 AS x;
CALL pgscale_reclaim('rc_view');
CALL pgscale_reclaim(NULL);

CREATE TABLE rc_gen (id bigint GENERATED ALWAYS AS IDENTITY, v text);
INSERT INTO rc_gen (v) SELECT 'x' FROM generate_series(1, 10);
CALL pgscale_reclaim('rc_gen');   -- moves through v, not the identity column
SELECT count(*) AS rc_gen_rows FROM rc_gen;

-- Only the owner compacts; others see only tables they may read.
CREATE ROLE rc_other;
SET ROLE rc_other;
CALL pgscale_reclaim('rc_usage');
SELECT count(*) AS visible FROM pgscale_space_reclaimable('rc_usage');
RESET ROLE;
DROP ROLE rc_other;

-- pgscale.vacuum_after_purge: the procedure forms VACUUM what they purged
-- and log it; the function form cannot, and leaves it to autovacuum.
CREATE TABLE rc_purge (id int, at timestamptz);
INSERT INTO rc_purge SELECT g, now() - g * interval '1 day' FROM generate_series(1, 100) g;
SELECT pgscale_set_retention('rc_purge', '30 days', 'at');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'rc_purge');
SELECT count(*) AS vacuums_by_the_function FROM pgscale_log
WHERE relid = 'rc_purge'::regclass AND action = 'vacuum';
INSERT INTO rc_purge SELECT g, now() - g * interval '1 day' FROM generate_series(31, 60) g;
CALL pgscale_cleanup_proc(relation => 'rc_purge');
SELECT action, detail FROM pgscale_log
WHERE relid = 'rc_purge'::regclass AND action = 'vacuum';
SELECT n_dead_tup = 0 AS no_dead_rows_left, vacuum_count >= 1 AS vacuumed
FROM pg_stat_user_tables WHERE relid = 'rc_purge'::regclass;
SET pgscale.vacuum_after_purge = off;
INSERT INTO rc_purge SELECT g, now() - g * interval '1 day' FROM generate_series(31, 60) g;
CALL pgscale_cleanup_proc(relation => 'rc_purge');
SELECT count(*) AS vacuums_logged FROM pgscale_log
WHERE relid = 'rc_purge'::regclass AND action = 'vacuum';
-- the policy's own choice wins over the setting, both ways, and a
-- set_retention that leaves it out keeps it
SELECT pgscale_set_retention('rc_purge', '30 days', vacuum_after_purge => true);
SELECT pgscale_set_retention('rc_purge', '30 days');
SELECT vacuum_after_purge FROM pgscale_policy WHERE table_name = 'rc_purge'::regclass;
INSERT INTO rc_purge SELECT g, now() - g * interval '1 day' FROM generate_series(31, 60) g;
CALL pgscale_cleanup_proc(relation => 'rc_purge');
SELECT count(*) AS vacuums_logged_policy_on FROM pgscale_log
WHERE relid = 'rc_purge'::regclass AND action = 'vacuum';
RESET pgscale.vacuum_after_purge;
SELECT pgscale_set_retention('rc_purge', '30 days', vacuum_after_purge => false);
INSERT INTO rc_purge SELECT g, now() - g * interval '1 day' FROM generate_series(31, 60) g;
CALL pgscale_cleanup_proc(relation => 'rc_purge');
SELECT count(*) AS vacuums_logged_policy_off FROM pgscale_log
WHERE relid = 'rc_purge'::regclass AND action = 'vacuum';
SELECT count(*) AS expired_left FROM rc_purge WHERE at < now() - interval '30 days';
SELECT pgscale_remove_policy('rc_purge');

-- Partition retention that detaches concurrently (no default partition)
-- VACUUMs the trimmed partition over the connection the detaches used,
-- while the detached one is dropped: both done, both logged.  Bounds and
-- rows relative to now(), no row on a bound or the cutoff.
CREATE TABLE rc_parts (id int, at timestamptz NOT NULL) PARTITION BY RANGE (at);
DO $$
BEGIN
    EXECUTE format('CREATE TABLE rc_parts_old PARTITION OF rc_parts FOR VALUES FROM (%L) TO (%L)',
                   now() - interval '200 days', now() - interval '100 days');
    EXECUTE format('CREATE TABLE rc_parts_mid PARTITION OF rc_parts FOR VALUES FROM (%L) TO (%L)',
                   now() - interval '100 days', now() - interval '50 days');
    EXECUTE format('CREATE TABLE rc_parts_new PARTITION OF rc_parts FOR VALUES FROM (%L) TO (%L)',
                   now() - interval '50 days', now() + interval '10 days');
END $$;
INSERT INTO rc_parts
SELECT g, now() - (g + 0.5) * interval '1 hour' FROM generate_series(0, 4000) g;
CREATE TEMP TABLE rc_parts_kept AS
SELECT count(*) AS n FROM rc_parts WHERE at >= now() - interval '75 days';
SELECT pgscale_set_retention('rc_parts', '75 days', 'at');
CALL pgscale_cleanup_proc(relation => 'rc_parts');
SELECT count(*) FILTER (WHERE at < now() - interval '75 days') AS expired_left,
       count(*) = (SELECT n FROM rc_parts_kept) AS kept_all
FROM rc_parts;
SELECT to_regclass('rc_parts_old') IS NULL AS expired_partition_dropped;
SELECT action, object_name,
       CASE action WHEN 'drop_partition' THEN detail LIKE '%detached concurrently%'
                   WHEN 'vacuum' THEN detail LIKE 'after the purge of % rows'
                   ELSE rows > 0 END AS as_expected
FROM pgscale_log WHERE relid IN ('rc_parts'::regclass, 'rc_parts_mid'::regclass) ORDER BY id;
SELECT vacuum_count >= 1 AS vacuumed
FROM pg_stat_user_tables WHERE relid = 'rc_parts_mid'::regclass;
SELECT pgscale_remove_policy('rc_parts');

-- The seed's emergency procedure in one call: purge with days, then
-- compact what the purge freed (the compaction's first VACUUM stands for
-- the one after the purge).
CREATE TABLE rc_emerg (id bigserial PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO rc_emerg (at, note)
SELECT now() - (60001 - g) * interval '10 minutes', md5(g::text)
FROM generate_series(1, 60000) g;
SELECT pgscale_set_retention('rc_emerg', '1000 days', 'at');
CREATE TABLE rc_emerg_before AS
SELECT pg_relation_size('rc_emerg') AS bytes,
       (SELECT count(*) FROM rc_emerg WHERE at >= now() - interval '200 days') AS kept,
       (SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM rc_emerg e
        WHERE at >= now() - interval '200 days') AS digest;
-- refused in a transaction block, before anything is purged
BEGIN;
CALL pgscale_cleanup_proc(days => 208, relation => 'rc_emerg', reclaim => true);
ROLLBACK;
SELECT count(*) AS rows_after_refusal FROM rc_emerg;
-- a dry run purges and moves nothing
CALL pgscale_cleanup_proc(dry_run => true, days => 208, relation => 'rc_emerg', reclaim => true);
SELECT count(*) AS rows_after_dry_run, pg_relation_size('rc_emerg') = b.bytes AS same_size
FROM rc_emerg, rc_emerg_before b GROUP BY b.bytes;
CALL pgscale_cleanup_proc(days => 208, relation => 'rc_emerg', reclaim => true);
SELECT pg_relation_size('rc_emerg') <= b.bytes * 0.6 AS returned_40_percent,
       (SELECT count(*) FROM rc_emerg WHERE at < now() - interval '208 days') AS expired_left,
       (SELECT count(*) FROM rc_emerg WHERE at >= now() - interval '200 days') = b.kept AS kept_count,
       (SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM rc_emerg e
        WHERE at >= now() - interval '200 days') = b.digest AS kept_rows_unchanged
FROM rc_emerg_before b;
SELECT action, count(*) FROM pgscale_log
WHERE relid = 'rc_emerg'::regclass AND action IN ('reclaim', 'vacuum')
GROUP BY action ORDER BY action;
SELECT count(*) AS indexes_checked
FROM (SELECT bt_index_check(indexrelid, true) FROM pg_index
      WHERE indrelid = 'rc_emerg'::regclass) c;
-- a table the compaction refuses (an UPDATE trigger): a WARNING, the
-- purge done, and the VACUUM after it instead
CREATE TABLE rc_emtrig (id int PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO rc_emtrig SELECT g, now() - g * interval '1 day' FROM generate_series(1, 100) g;
CREATE TRIGGER rc_touch BEFORE UPDATE ON rc_emtrig FOR EACH ROW EXECUTE FUNCTION rc_touch();
SELECT pgscale_set_retention('rc_emtrig', '1000 days', 'at');
CALL pgscale_cleanup_proc(days => 50, relation => 'rc_emtrig', reclaim => true);
SELECT count(*) AS rows_left FROM rc_emtrig;
SELECT action, count(*) FROM pgscale_log
WHERE relid = 'rc_emtrig'::regclass AND action IN ('reclaim', 'vacuum')
GROUP BY action ORDER BY action;
SELECT pgscale_remove_policy('rc_emerg'), pgscale_remove_policy('rc_emtrig');
DROP TABLE rc_emerg, rc_emerg_before, rc_emtrig;

-- pgscale_health() (and so pgscale_report()) points at the compaction,
-- and at the conversion for a plain table that loses old rows by time;
-- after the compaction the check is ok again
CREATE TABLE rc_health (id bigserial PRIMARY KEY, at timestamptz NOT NULL, pad text);
INSERT INTO rc_health (at, pad)
SELECT '2020-01-01'::timestamptz + g * interval '1 minute', repeat('x', 100)
FROM generate_series(1, 150000) g;
SELECT pgscale_set_retention('rc_health', '1000 days', 'at');
DELETE FROM rc_health WHERE id <= 100000;
VACUUM ANALYZE rc_health;
SELECT status,
       advice LIKE '%CALL pgscale_reclaim(''public.rc_health'')%' AS names_reclaim,
       advice LIKE '%pgscale_partition_table(''public.rc_health'', ''at'')%' AS names_conversion
FROM pgscale_health() WHERE check_name = 'space to give back';
SELECT count(*) > 0 AS report_names_reclaim
FROM pgscale_report() r WHERE r LIKE '%CALL pgscale_reclaim(''public.rc_health'')%';
CALL pgscale_reclaim('rc_health');
SELECT status FROM pgscale_health() WHERE check_name = 'space to give back';
SELECT pgscale_remove_policy('rc_health');
DROP TABLE rc_health;

RESET client_min_messages;
DROP TABLE rc_purge, rc_usage, rc_before, rc_trig, rc_rule, rc_rule_log, rc_pub, rc_parted, rc_gen CASCADE;
DROP VIEW rc_view;
DROP FUNCTION rc_touch();
