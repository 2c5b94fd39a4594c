--
-- Pacing, function form: pgscale_cleanup() runs in one transaction and
-- cannot pause between its batches.  When a pacing limit is exceeded it
-- says so with one NOTICE per table and goes on, or, with pgscale.pacing =
-- strict, refuses and rolls back.  The limits are exceeded here without a
-- standby: pgscale.max_wal_rate set tiny (cleanup's own WAL rate), and
-- pgscale.max_slot_wal under a physical slot reserved at once.  The
-- settings are reloaded ones (PGC_SIGHUP): ALTER SYSTEM, pg_reload_conf(),
-- then a new session, which the postmaster starts with the new values.
-- The pausing of the procedure is tested in test/t/090_pacing.pl.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;
SET client_min_messages = notice;
CREATE SCHEMA pacing;
SET search_path = pacing, public;
\set VERBOSITY terse

-- the settings, their defaults and units
SELECT name, setting, unit, context, vartype, min_val, max_val
FROM pg_settings
WHERE name IN ('pgscale.max_replica_lag', 'pgscale.max_slot_wal',
               'pgscale.max_wal_rate', 'pgscale.max_pause', 'pgscale.pacing')
ORDER BY name;
SELECT enumvals FROM pg_settings WHERE name = 'pgscale.pacing';

-- reloaded settings: a session cannot change them (55P02), bad values are
-- refused (22023; the wording of the range changed in 17)
\set VERBOSITY sqlstate
SET pgscale.max_replica_lag = '1s';
SET pgscale.pacing = strict;
ALTER SYSTEM SET pgscale.max_replica_lag = '-1s';
ALTER SYSTEM SET pgscale.max_slot_wal = -1;
ALTER SYSTEM SET pgscale.max_wal_rate = '3TB';
ALTER SYSTEM SET pgscale.max_pause = 0;
ALTER SYSTEM SET pgscale.pacing = 'loud';
ALTER SYSTEM SET pgscale.max_slot_wal = '2TB';
\set VERBOSITY terse
-- the limits as they are in force
SHOW pgscale.max_replica_lag;
SHOW pgscale.max_pause;

-- 200 rows, 100 of them expired: 10 batches of 10
CREATE TABLE ev (id int GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL);
CREATE FUNCTION refill() RETURNS void LANGUAGE sql AS $$
    TRUNCATE pacing.ev;
    INSERT INTO pacing.ev (ts) SELECT now() - g * interval '1 hour'
    FROM generate_series(1, 100) g;
    INSERT INTO pacing.ev (ts) SELECT now() - interval '30 days' - g * interval '1 hour'
    FROM generate_series(1, 100) g;
$$;
SELECT refill();
SELECT pgscale_set_retention('ev', '10 days', 'ts');

-- no limit exceeded: no notice
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', batch_size => 10);
SELECT refill();

-- cleanup's own WAL over 1 kB a second: one notice, and everything goes
ALTER SYSTEM SET pgscale.max_wal_rate = '1kB';
SELECT pg_reload_conf();
\c
SET search_path = pacing, public;
\set VERBOSITY terse
SHOW pgscale.max_wal_rate;
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', batch_size => 10);
SELECT count(*) AS expired_left FROM ev WHERE ts < now() - interval '10 days';
-- a dry run never paces
SELECT refill();
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'ev', batch_size => 10);

-- strict: refused, with nothing deleted
SELECT refill();
ALTER SYSTEM SET pgscale.pacing = strict;
SELECT pg_reload_conf();
\c
SET search_path = pacing, public;
\set VERBOSITY terse
SHOW pgscale.pacing;
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', batch_size => 10);
SELECT count(*) AS expired_left FROM ev WHERE ts < now() - interval '10 days';
-- a single batch has no boundary to pace at: it goes through
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', batch_size => 1000);
SELECT refill();

-- a replication slot that retains WAL: refused in strict mode, a notice else
ALTER SYSTEM RESET pgscale.max_wal_rate;
ALTER SYSTEM SET pgscale.max_slot_wal = '1kB';
SELECT pg_reload_conf();
\c
SET search_path = pacing, public;
\set VERBOSITY terse
SHOW pgscale.max_wal_rate;
SHOW pgscale.max_slot_wal;
SELECT slot_name FROM pg_create_physical_replication_slot('pacing_test', immediately_reserve => true);
-- (enough WAL after the slot's start that it retains more than 1 kB)
CREATE TABLE filler AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 100) g;
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', batch_size => 10);
SELECT count(*) AS expired_left FROM ev WHERE ts < now() - interval '10 days';
ALTER SYSTEM SET pgscale.pacing = notice;
SELECT pg_reload_conf();
\c
SET search_path = pacing, public;
\set VERBOSITY terse
SHOW pgscale.pacing;
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', batch_size => 10);
SELECT count(*) AS expired_left FROM ev WHERE ts < now() - interval '10 days';
SELECT pg_drop_replication_slot('pacing_test');

-- the limits off (the standby limit has no standby here): no notice
SELECT refill();
SELECT rows_deleted FROM pgscale_cleanup(relation => 'ev', batch_size => 10);

ALTER SYSTEM RESET pgscale.max_slot_wal;
ALTER SYSTEM RESET pgscale.pacing;
SELECT pg_reload_conf();
DROP SCHEMA pacing CASCADE;
