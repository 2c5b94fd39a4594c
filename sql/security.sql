--
-- Ownership, odd identifiers and a hostile search_path.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;

CREATE ROLE regress_pgs_owner;
CREATE ROLE regress_pgs_member IN ROLE regress_pgs_owner;
CREATE ROLE regress_pgs_stranger;
CREATE SCHEMA sec AUTHORIZATION regress_pgs_owner;
GRANT USAGE ON SCHEMA sec TO PUBLIC;

SET ROLE regress_pgs_owner;
CREATE TABLE sec.owned (id bigserial PRIMARY KEY, d date NOT NULL);
INSERT INTO sec.owned (d) SELECT current_date - g FROM generate_series(0, 99) g;
GRANT SELECT, DELETE ON sec.owned TO regress_pgs_stranger;
RESET ROLE;

\set VERBOSITY default
-- a stranger may not set, protect, remove or clean, even with DELETE rights
SET ROLE regress_pgs_stranger;
SELECT pgscale_set_retention('sec.owned', '30 days', 'd');
SELECT pgscale_protect('sec.owned');
SELECT pgscale_remove_policy('sec.owned');
-- nor write pgscale's tables directly
INSERT INTO pgscale_policy (table_name, retention, time_column) VALUES ('sec.owned', '1 day', 'd');
DELETE FROM pgscale_log;
-- the tables behind the views (schema pgscale) refuse it too
INSERT INTO pgscale.pgscale_policy (table_name, retention, time_column) VALUES ('sec.owned', '1 day', 'd');
UPDATE pgscale.pgscale_log SET rows = 0;
RESET ROLE;
\set VERBOSITY terse
SELECT count(*) AS policies FROM pgscale_policy WHERE table_name = 'sec.owned'::regclass;

-- a member of the owning role may
SET ROLE regress_pgs_member;
SELECT pgscale_set_retention('sec.owned', '30 days', 'd');
RESET ROLE;

\set VERBOSITY default
-- the stranger cannot clean the table by name ...
SET ROLE regress_pgs_stranger;
SELECT * FROM pgscale_cleanup(relation => 'sec.owned');
\set VERBOSITY terse
-- ... and a run over all policies does not see it
SET client_min_messages = notice;
SELECT count(*) AS processed FROM pgscale_cleanup();
SET client_min_messages = warning;
RESET ROLE;
SELECT count(*) AS rows_left FROM sec.owned;

-- the owner cleans it, and the log records the owner's session
SET ROLE regress_pgs_owner;
SELECT rows_deleted FROM pgscale_cleanup(relation => 'sec.owned');
RESET ROLE;
SELECT count(*) AS rows_left FROM sec.owned;
SELECT action, rows FROM pgscale_log WHERE relid = 'sec.owned'::regclass;

-- identifiers with spaces, quotes, semicolons, capitals and unicode
CREATE SCHEMA "Odd ""Schema""; x";
CREATE TABLE "Odd ""Schema""; x"."Metrics; DROP TABLE sec.owned; --" (
    id bigserial PRIMARY KEY,
    "Day ""Col""; y" date NOT NULL
);
INSERT INTO "Odd ""Schema""; x"."Metrics; DROP TABLE sec.owned; --" ("Day ""Col""; y")
SELECT current_date - g FROM generate_series(0, 199) g;
SELECT pgscale_set_retention('"Odd ""Schema""; x"."Metrics; DROP TABLE sec.owned; --"',
                             '50 days', 'Day "Col"; y');
SELECT rows_deleted FROM pgscale_cleanup(dry_run => true,
    relation => '"Odd ""Schema""; x"."Metrics; DROP TABLE sec.owned; --"');
SELECT rows_deleted FROM pgscale_cleanup(batch_size => 33,
    relation => '"Odd ""Schema""; x"."Metrics; DROP TABLE sec.owned; --"');
SELECT count(*) AS kept FROM "Odd ""Schema""; x"."Metrics; DROP TABLE sec.owned; --";
SELECT to_regclass('sec.owned') IS NOT NULL AS sec_owned_still_there;

-- a partitioned table with odd names, partitions included
CREATE TABLE "Odd ""Schema""; x"."Pärted 'T'" ("When" timestamptz NOT NULL)
    PARTITION BY RANGE ("When");
CREATE TABLE "Odd ""Schema""; x"."Pärted 'T' old" PARTITION OF "Odd ""Schema""; x"."Pärted 'T'"
    FOR VALUES FROM ('2000-01-01') TO ('2001-01-01');
CREATE TABLE "Odd ""Schema""; x"."Pärted 'T' now" PARTITION OF "Odd ""Schema""; x"."Pärted 'T'"
    FOR VALUES FROM ('2001-01-01') TO (MAXVALUE);
INSERT INTO "Odd ""Schema""; x"."Pärted 'T'" VALUES ('2000-06-01'), ('2001-06-01'), (now());
SELECT pgscale_set_retention('"Odd ""Schema""; x"."Pärted ''T''"', '1 year');
SELECT partitions_dropped, rows_deleted FROM pgscale_cleanup(
    relation => '"Odd ""Schema""; x"."Pärted ''T''"');
SELECT count(*) AS kept FROM "Odd ""Schema""; x"."Pärted 'T'";

-- dollar quotes, unicode and 63-byte names
CREATE TABLE "$$; DROP TABLE sec.owned; $$" (d date NOT NULL);
INSERT INTO "$$; DROP TABLE sec.owned; $$" SELECT current_date - g FROM generate_series(0, 9) g;
SELECT pgscale_set_retention('"$$; DROP TABLE sec.owned; $$"', '5 days', 'd');
CREATE TABLE "Zeitreihe_ÄÖÜ_日本語_🙂" ("Tag ✓" date NOT NULL);
INSERT INTO "Zeitreihe_ÄÖÜ_日本語_🙂" SELECT current_date - g FROM generate_series(0, 9) g;
SELECT pgscale_set_retention('"Zeitreihe_ÄÖÜ_日本語_🙂"', '5 days', 'Tag ✓');
CREATE TABLE t123456789012345678901234567890123456789012345678901234567890ab (d date NOT NULL);
INSERT INTO t123456789012345678901234567890123456789012345678901234567890ab
SELECT current_date - g FROM generate_series(0, 9) g;
SELECT pgscale_set_retention('t123456789012345678901234567890123456789012345678901234567890ab',
                             '5 days', 'd');
SELECT count(*) AS cleaned, sum(rows_deleted) AS rows_deleted FROM pgscale_cleanup()
WHERE table_name::text NOT LIKE 'sec.%';
SELECT (SELECT count(*) FROM "$$; DROP TABLE sec.owned; $$") AS dollar,
       (SELECT count(*) FROM "Zeitreihe_ÄÖÜ_日本語_🙂") AS unicode,
       (SELECT count(*) FROM t123456789012345678901234567890123456789012345678901234567890ab) AS long_name,
       to_regclass('sec.owned') IS NOT NULL AS sec_owned_still_there;
-- the tiniest retention keeps what is not yet older than a microsecond
CREATE TABLE tiny (at timestamptz NOT NULL DEFAULT now() + interval '1 hour');
INSERT INTO tiny VALUES (DEFAULT), (now() - interval '1 second');
SELECT pgscale_set_retention('tiny', '1 microsecond', 'at');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'tiny');
SELECT count(*) AS future_row_kept FROM tiny;
DROP TABLE "$$; DROP TABLE sec.owned; $$", "Zeitreihe_ÄÖÜ_日本語_🙂",
    t123456789012345678901234567890123456789012345678901234567890ab, tiny;

-- NULL for every argument of the procedure is refused like the function's
\set VERBOSITY default
CALL pgscale_cleanup_proc(dry_run => NULL);
CALL pgscale_cleanup_proc(batch_size => NULL);
SELECT * FROM pgscale_run_maintenance(NULL);
SELECT * FROM pgscale_create_month_partitions(NULL, NULL, NULL);
SELECT pgscale_set_partitioning(NULL);
\set VERBOSITY terse

-- a malicious schema first in the search_path, with look-alike operators
-- and functions, changes nothing: every name pgscale uses is qualified
CREATE SCHEMA evil;
CREATE TABLE evil.calls (what text);
GRANT INSERT ON evil.calls TO PUBLIC;
CREATE FUNCTION evil.lt(date, timestamp) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO evil.calls VALUES ('lt'); RETURN true; END $$;
CREATE OPERATOR evil.< (LEFTARG = date, RIGHTARG = timestamp, FUNCTION = evil.lt);
CREATE FUNCTION evil.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN INSERT INTO evil.calls VALUES ('count'); RETURN 0; END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN INSERT INTO evil.calls VALUES ('now'); RETURN 'infinity'; END $$;
CREATE TABLE evil.pgscale_policy (LIKE pgscale_policy);
INSERT INTO sec.owned (d) SELECT current_date - g FROM generate_series(0, 99) g;
SET search_path = evil, public, pg_catalog;
SELECT rows_deleted FROM public.pgscale_cleanup(relation => 'sec.owned');
CALL public.pgscale_cleanup_proc(relation => 'sec.owned');
SELECT public.pgscale_set_retention('sec.owned', '31 days', 'd');
RESET search_path;
SELECT count(*) AS evil_calls FROM evil.calls;
SELECT count(*) AS rows_left, min(d) >= current_date - 31 AS window_kept FROM sec.owned;

-- who reads pgscale's tables: a role sees the rows of the tables it owns
-- (or whose owner it has the privileges of), a member of pg_monitor every
-- row, a stranger none; the same through every function pgscale ships
CREATE ROLE regress_pgs_a;
CREATE ROLE regress_pgs_b;
CREATE ROLE regress_pgs_a_member IN ROLE regress_pgs_a;
CREATE ROLE regress_pgs_mon IN ROLE pg_monitor;
CREATE SCHEMA rls;
GRANT USAGE, CREATE ON SCHEMA rls TO regress_pgs_a, regress_pgs_b;
SET ROLE regress_pgs_a;
CREATE TABLE rls.a_events (id bigserial PRIMARY KEY, d date NOT NULL);
INSERT INTO rls.a_events (d) SELECT current_date - g FROM generate_series(0, 59) g;
SELECT pgscale_set_retention('rls.a_events', '30 days', 'd');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'rls.a_events');
RESET ROLE;
SET ROLE regress_pgs_b;
CREATE TABLE rls.b_events (id bigserial PRIMARY KEY, d date NOT NULL);
INSERT INTO rls.b_events (d) SELECT current_date - g FROM generate_series(0, 59) g;
SELECT pgscale_set_retention('rls.b_events', '40 days', 'd');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'rls.b_events');
RESET ROLE;
-- a log row of a table that is gone, and a size snapshot of everything
CREATE TABLE rls.gone (d date NOT NULL);
SELECT pgscale_set_retention('rls.gone', '1 day', 'd');
INSERT INTO rls.gone VALUES (current_date - 10), (current_date);
SELECT rows_deleted FROM pgscale_cleanup(relation => 'rls.gone');
DROP TABLE rls.gone;
SELECT pgscale_snapshot_sizes() > 0 AS snapshot_taken;
CREATE FUNCTION pg_temp.seen() RETURNS TABLE (policies text, log text, history text)
LANGUAGE sql AS $$
    SELECT (SELECT coalesce(string_agg(DISTINCT table_name::text, ',' ORDER BY table_name::text), '-')
            FROM pgscale_policy WHERE table_name::text LIKE 'rls.%'),
           (SELECT coalesce(string_agg(DISTINCT table_name, ',' ORDER BY table_name), '-')
            FROM pgscale_log WHERE table_name LIKE 'rls.%'),
           (SELECT coalesce(string_agg(DISTINCT table_name, ',' ORDER BY table_name), '-')
            FROM pgscale_size_history WHERE schema_name = 'rls')
$$;
GRANT EXECUTE ON FUNCTION pg_temp.seen() TO PUBLIC;
SELECT 'superuser' AS who, * FROM pg_temp.seen();
SET ROLE regress_pgs_a;
SELECT 'a' AS who, * FROM pg_temp.seen();
RESET ROLE;
SET ROLE regress_pgs_a_member;
SELECT 'member of a' AS who, * FROM pg_temp.seen();
RESET ROLE;
SET ROLE regress_pgs_b;
SELECT 'b' AS who, * FROM pg_temp.seen();
RESET ROLE;
SET ROLE regress_pgs_mon;
SELECT 'pg_monitor' AS who, * FROM pg_temp.seen();
RESET ROLE;
SET ROLE regress_pgs_stranger;
SELECT 'stranger' AS who, * FROM pg_temp.seen();
SELECT count(*) AS policies_seen FROM pgscale_policy;
SELECT count(*) AS log_seen FROM pgscale_log;
SELECT count(*) AS history_seen FROM pgscale_size_history;
SELECT count(*) AS index_ages_seen FROM pgscale_index_seen;
RESET ROLE;
-- only pg_monitor sees the log rows of a dropped table
SELECT count(*) > 0 AS gone_logged FROM pgscale_log WHERE table_name = 'rls.gone';
SET ROLE regress_pgs_mon;
SELECT count(*) > 0 AS gone_seen_by_monitor FROM pgscale_log WHERE table_name = 'rls.gone';
RESET ROLE;
SET ROLE regress_pgs_a;
SELECT count(*) AS gone_seen_by_a FROM pgscale_log WHERE table_name = 'rls.gone';
RESET ROLE;
-- nor through pgscale's functions: the report, health, the forecast, a
-- dry-run cycle and the worker's status
CREATE FUNCTION pg_temp.through_functions() RETURNS TABLE (report_a boolean, report_b boolean,
    health_policies text, forecast text)
LANGUAGE sql AS $$
    SELECT EXISTS (SELECT FROM pgscale_report() r WHERE r LIKE '%rls.a_events%keep%'),
           EXISTS (SELECT FROM pgscale_report() r WHERE r LIKE '%rls.b_events%keep%'),
           (SELECT split_part(value, ';', 1) FROM pgscale_health()
            WHERE check_name = 'retention policies'),
           (SELECT coalesce(string_agg(table_name, ',' ORDER BY table_name), '-')
            FROM pgscale_growth_forecast() WHERE schema_name = 'rls')
$$;
CREATE FUNCTION pg_temp.cycle() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(DISTINCT table_name::text, ',' ORDER BY table_name::text), '-')
    FROM pgscale_run_maintenance(dry_run => true) WHERE table_name::text LIKE 'rls.%'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.cycle() TO PUBLIC;
GRANT EXECUTE ON FUNCTION pg_temp.through_functions() TO PUBLIC;
SET ROLE regress_pgs_a;
SELECT 'a' AS who, *, pg_temp.cycle() FROM pg_temp.through_functions();
RESET ROLE;
SET ROLE regress_pgs_b;
SELECT 'b' AS who, *, pg_temp.cycle() FROM pg_temp.through_functions();
RESET ROLE;
SET ROLE regress_pgs_mon;
SELECT 'pg_monitor' AS who, * FROM pg_temp.through_functions();
RESET ROLE;
SET ROLE regress_pgs_stranger;
SELECT 'stranger' AS who, *, pg_temp.cycle() FROM pg_temp.through_functions();
RESET ROLE;
-- a role cannot widen its view with a function of its own in a query on
-- the log: the policy is applied first (the function sees only its rows)
CREATE FUNCTION pg_temp.peek(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN RAISE NOTICE 'peeked at %', $1; RETURN true; END $$;
GRANT EXECUTE ON FUNCTION pg_temp.peek(text) TO PUBLIC;
SET client_min_messages = notice;
SET ROLE regress_pgs_stranger;
SELECT count(*) AS stranger_peeks FROM pgscale_policy WHERE pg_temp.peek(table_name::text);
RESET ROLE;
SET client_min_messages = warning;
DROP SCHEMA rls CASCADE;
DROP ROLE regress_pgs_a_member, regress_pgs_a, regress_pgs_b, regress_pgs_mon;

RESET client_min_messages;
SET client_min_messages = warning;
DROP SCHEMA evil CASCADE;
DROP SCHEMA "Odd ""Schema""; x" CASCADE;
DROP SCHEMA sec CASCADE;
DROP ROLE regress_pgs_member;
DROP ROLE regress_pgs_stranger;
DROP ROLE regress_pgs_owner;
