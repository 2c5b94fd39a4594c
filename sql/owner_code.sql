--
-- A table owner's code (triggers, CHECK functions) runs as that owner,
-- never with the rights of whoever runs the maintenance: a superuser, the
-- worker's role, pg_cron's.  Each function below makes its owner superuser
-- when it finds itself running as one, and records who ran it.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;

\i test/data/hostile_owner.sql

-- a plain table whose expired rows fire a row trigger when deleted
CREATE TABLE ev (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO ev (ts) SELECT now() - g * interval '1 day' FROM generate_series(1, 40) g;
CREATE TRIGGER escalate BEFORE DELETE ON ev
    FOR EACH ROW EXECUTE FUNCTION escalate_trigger();
SELECT pgscale_set_retention('ev', interval '30 days', 'ts');

-- a partitioned table whose CHECK runs when premake moves rows out of the
-- default partition into a new month
CREATE TABLE pev (ts timestamptz NOT NULL CHECK (hostile.escalate('check'))) PARTITION BY RANGE (ts);
CREATE TABLE pev_default PARTITION OF pev DEFAULT;
INSERT INTO pev VALUES (date_trunc('month', now()) + interval '1 month 1 day');
SELECT pgscale_set_partitioning('pev', 2);
TRUNCATE seen;
RESET ROLE;
RESET search_path;

-- a superuser runs every form of retention and maintenance
SELECT sum(rows_deleted) AS dry_run FROM pgscale_cleanup(dry_run => true, relation => 'hostile.ev');
SELECT sum(rows_deleted) AS deleted FROM pgscale_cleanup(relation => 'hostile.ev');
INSERT INTO hostile.ev (ts) SELECT now() - g * interval '1 day' FROM generate_series(31, 35) g;
CALL pgscale_cleanup_proc(relation => 'hostile.ev');
INSERT INTO hostile.ev (ts) SELECT now() - g * interval '1 day' FROM generate_series(31, 33) g;
SELECT count(*) > 0 AS cycle_ran FROM pgscale_run_maintenance();
CALL pgscale_run_maintenance_proc();

SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_hostile';
SELECT count(*) AS expired_left FROM hostile.ev WHERE ts < now() - interval '30 days';
SELECT count(*) AS kept FROM hostile.ev;
SELECT tableoid::regclass <> 'hostile.pev_default'::regclass AS moved_out_of_default FROM hostile.pev;
-- the owner's code did run, as the owner
SELECT who, what, count(*) FROM hostile.seen GROUP BY 1, 2 ORDER BY 1, 2;

-- and the conversion: its CHECK runs on every row it copies
SET ROLE regress_hostile;
CREATE TABLE hostile.conv (id bigserial, ts timestamptz NOT NULL CHECK (hostile.escalate('conv check')),
                           PRIMARY KEY (id, ts));
INSERT INTO hostile.conv (ts) SELECT now() - g * interval '10 days' FROM generate_series(1, 10) g;
TRUNCATE hostile.seen;
RESET ROLE;
CALL pgscale_partition_table('hostile.conv', 'ts', 1);
CALL pgscale_split_legacy('hostile.conv');
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_hostile';
SELECT count(*) AS rows_after_conversion FROM hostile.conv;
SELECT DISTINCT who FROM hostile.seen;

-- nor can it leave settings behind in the session that ran the maintenance:
-- a trigger that sets search_path (and a setting of its own) for the rest of
-- the session changes neither, in any form of cleanup
SET ROLE regress_hostile;
CREATE TABLE hostile.leak (ts timestamptz NOT NULL);
CREATE FUNCTION hostile.leak_settings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'hostile, pg_catalog', false);
    PERFORM pg_catalog.set_config('hostile.mark', 'left behind', false);
    RETURN NULL;
END $$;
CREATE TRIGGER leak AFTER DELETE ON hostile.leak
    FOR EACH STATEMENT EXECUTE FUNCTION hostile.leak_settings();
INSERT INTO hostile.leak SELECT now() - g * interval '1 day' FROM generate_series(1, 40) g;
SELECT pgscale_set_retention('hostile.leak', interval '30 days', 'ts');
RESET ROLE;
SET search_path = public;
SELECT rows_deleted FROM pgscale_cleanup(relation => 'hostile.leak', force => true);
SELECT current_setting('search_path') AS search_path_after_function,
       current_setting('hostile.mark', true) IS NULL OR current_setting('hostile.mark', true) = '' AS no_mark;
INSERT INTO hostile.leak SELECT now() - g * interval '1 day' FROM generate_series(31, 35) g;
CALL pgscale_cleanup_proc(relation => 'hostile.leak', force => true);
SELECT current_setting('search_path') AS search_path_after_procedure,
       current_setting('hostile.mark', true) IS NULL OR current_setting('hostile.mark', true) = '' AS no_mark;
RESET search_path;

DROP SCHEMA hostile CASCADE;
DROP ROLE regress_hostile;
