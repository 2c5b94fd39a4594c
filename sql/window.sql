--
-- The maintenance window's settings: malformed windows, unknown time zones
-- and bad test clocks are refused with a detail saying what to give; the
-- window and its zone are server settings (SIGHUP), the test clock a
-- superuser's.  With no window, respect_window => true changes nothing.
-- Whether a purge runs inside / outside a window is in
-- test/t/090_window.pl, which can reload the server's settings.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;

CREATE SCHEMA win;
SET search_path = win, public;
\set VERBOSITY default

-- ALTER SYSTEM runs the check hook; a refused value is not written
ALTER SYSTEM SET pgscale.maintenance_window = '02:00';
ALTER SYSTEM SET pgscale.maintenance_window = '02:00-02:00';
ALTER SYSTEM SET pgscale.maintenance_window = '25:00-03:00';
ALTER SYSTEM SET pgscale.maintenance_window = '02:60-03:00';
ALTER SYSTEM SET pgscale.maintenance_window = '24:00-02:00';
ALTER SYSTEM SET pgscale.maintenance_window = '02:00-05:00;06:00-07:00';
ALTER SYSTEM SET pgscale.maintenance_window = '02:00-05:00,';
ALTER SYSTEM SET pgscale.maintenance_window = 'nightly';
ALTER SYSTEM SET pgscale.window_time_zone = 'Mars/Olympus_Mons';
SET pgscale.window_test_now = 'not a time';
SET pgscale.window_test_now = 'infinity';

-- valid values are accepted (and reset at once)
ALTER SYSTEM SET pgscale.maintenance_window = '22:00-02:00';
ALTER SYSTEM SET pgscale.maintenance_window = '1:00-2:00, 13:00-14:00';
ALTER SYSTEM SET pgscale.maintenance_window = '00:00-24:00';
ALTER SYSTEM SET pgscale.window_time_zone = 'Europe/Paris';
ALTER SYSTEM RESET pgscale.maintenance_window;
ALTER SYSTEM RESET pgscale.window_time_zone;
SET pgscale.window_test_now = '2026-01-15 03:00:00+00';
RESET pgscale.window_test_now;

-- a session cannot choose its own window
SET pgscale.maintenance_window = '02:00-05:00';
SET pgscale.window_time_zone = 'UTC';
SELECT current_setting('pgscale.maintenance_window') = '' AS no_window,
       current_setting('pgscale.window_time_zone') = '' AS server_zone;

-- the test clock is hidden from SHOW ALL and for superusers only
SELECT count(*) AS test_clock_in_pg_settings FROM pg_settings
WHERE name = 'pgscale.window_test_now';
CREATE ROLE regress_window_user;
SET ROLE regress_window_user;
SET pgscale.window_test_now = '2026-01-15 03:00:00+00';
RESET ROLE;

-- no window: respect_window => true purges as ever
CREATE TABLE ev (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO ev (ts) SELECT now() - g * interval '1 day' FROM generate_series(0, 59) g;
SELECT pgscale_set_retention('ev', interval '30 days 12 hours', 'ts');
SELECT rows_deleted FROM pgscale_cleanup(respect_window => true);
INSERT INTO ev (ts) SELECT now() - g * interval '1 day' FROM generate_series(40, 49) g;
CALL pgscale_cleanup_proc(respect_window => true);
SELECT count(*) AS kept FROM ev;
SELECT count(*) FILTER (WHERE action = 'skipped') AS skipped,
       count(*) FILTER (WHERE action = 'retention') AS retention
FROM pgscale_run_maintenance(respect_window => true);
SELECT count(*) AS skips_logged FROM pgscale_log WHERE action = 'skipped';

-- respect_window must not be NULL
SELECT * FROM pgscale_cleanup(respect_window => NULL);
SELECT * FROM pgscale_run_maintenance(respect_window => NULL);

DROP ROLE regress_window_user;
DROP SCHEMA win CASCADE;
