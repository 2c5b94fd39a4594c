--
-- Monthly partitions: premake, idempotence, what a new partition inherits,
-- rows moved out of the default partition, bad input.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;
CREATE SCHEMA part;
SET search_path = part, public;

CREATE ROLE regress_part_owner;
CREATE ROLE regress_part_reader;
GRANT CREATE, USAGE ON SCHEMA part TO regress_part_owner;
GRANT USAGE ON SCHEMA part TO regress_part_reader;

-- the seed's table, partitioned by month on a date column
CREATE TABLE metrics_aiusagedaily (
    id bigserial,
    member_id int NOT NULL,
    date date NOT NULL,
    suggestions int CHECK (suggestions >= 0),
    source text NOT NULL DEFAULT 'copilot',
    PRIMARY KEY (id, date)
) PARTITION BY RANGE (date);
CREATE UNIQUE INDEX metrics_member_date ON metrics_aiusagedaily (member_id, date, source);
ALTER TABLE metrics_aiusagedaily REPLICA IDENTITY USING INDEX metrics_member_date;
ALTER TABLE metrics_aiusagedaily OWNER TO regress_part_owner;
GRANT SELECT ON metrics_aiusagedaily TO regress_part_reader;
GRANT UPDATE (suggestions) ON metrics_aiusagedaily TO regress_part_reader;
-- an older partition tuned for autovacuum, as the seed does, and a default
CREATE TABLE metrics_old PARTITION OF metrics_aiusagedaily
    FOR VALUES FROM ('2000-01-01') TO ('2001-01-01')
    WITH (autovacuum_vacuum_scale_factor = 0.01, fillfactor = 90);
CREATE TABLE metrics_default PARTITION OF metrics_aiusagedaily DEFAULT;
ALTER TABLE metrics_old OWNER TO regress_part_owner;
ALTER TABLE metrics_default OWNER TO regress_part_owner;
-- rows for this month and the next ones already sit in the default
INSERT INTO metrics_aiusagedaily (member_id, date, suggestions)
SELECT g, current_date + g, g FROM generate_series(0, 40) g;
INSERT INTO metrics_aiusagedaily (member_id, date, suggestions)
SELECT g, '1999-01-01'::date, g FROM generate_series(1, 5) g;

-- this month and two ahead: three partitions, named <table>_YYYY_MM
SELECT count(*) AS created,
       bool_and(p::text ~ '^metrics_aiusagedaily_[0-9]{4}_[0-9]{2}$') AS named
FROM pgscale_create_month_partitions('metrics_aiusagedaily', 2) AS p;
SELECT to_regclass('metrics_aiusagedaily_' || to_char(current_date, 'YYYY_MM')) IS NOT NULL
       AS this_month_exists;
-- idempotent: nothing more to create
SELECT count(*) AS created_again FROM pgscale_create_month_partitions('metrics_aiusagedaily', 2);

-- the rows of those months left the default; the others stayed there
SELECT count(*) FILTER (WHERE tableoid = 'metrics_default'::regclass) AS in_default,
       count(*) AS total,
       count(*) FILTER (WHERE tableoid = 'metrics_default'::regclass
                        AND date >= date_trunc('month', current_date)
                        AND date < date_trunc('month', current_date) + interval '3 months')
           AS misplaced
FROM metrics_aiusagedaily;

-- a new partition gets the parent's owner, grants, indexes, replica
-- identity and the newest partition's storage parameters; bounds at midnight
SELECT c.relowner::regrole AS owner,
       c.relacl::text LIKE '%regress_part_reader=r/%' AS reader_granted,
       (SELECT attacl::text LIKE '%regress_part_reader=w/%' FROM pg_attribute
        WHERE attrelid = c.oid AND attname = 'suggestions') AS column_granted,
       c.reloptions,
       c.relreplident,
       (SELECT count(*) FROM pg_index WHERE indrelid = c.oid) AS indexes,
       (SELECT indisreplident FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = c.oid AND x.indisunique AND i.relname LIKE '%member%') AS ident_index,
       pg_get_expr(c.relpartbound, c.oid) =
           format('FOR VALUES FROM (%L) TO (%L)', date_trunc('month', current_date)::date,
                  (date_trunc('month', current_date) + interval '1 month')::date) AS bounds
FROM pg_class c
WHERE c.oid = ('metrics_aiusagedaily_' || to_char(current_date, 'YYYY_MM'))::regclass;

-- timestamp and timestamptz keys: midnight, in UTC for timestamptz
CREATE TABLE ev_ts (at timestamp NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE ev_tz (at timestamptz NOT NULL) PARTITION BY RANGE (at);
SELECT count(*) FROM pgscale_create_month_partitions('ev_ts', 0);
SELECT count(*) FROM pgscale_create_month_partitions('ev_tz', 0);
SET TimeZone = 'America/New_York';
SELECT ((regexp_match(pg_get_expr(relpartbound, oid), 'FROM \(''([^'']+)''\)'))[1]::timestamp)::time
       = '00:00' AS ts_midnight
FROM pg_class WHERE oid = ('ev_ts_' || to_char(localtimestamp, 'YYYY_MM'))::regclass;
SELECT (SELECT (regexp_match(pg_get_expr(relpartbound, oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz
        AT TIME ZONE 'UTC')::time = '00:00' AS tz_midnight_utc
FROM pg_class WHERE oid = ('ev_tz_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM'))::regclass;
RESET TimeZone;
-- another time zone, recorded in the policy
CREATE TABLE ev_berlin (at timestamptz NOT NULL) PARTITION BY RANGE (at);
SELECT pgscale_set_partitioning('ev_berlin', 1, 'Europe/Berlin');
SELECT premake_months, time_zone, time_column FROM pgscale_policy
WHERE table_name = 'ev_berlin'::regclass;
SELECT count(*) FROM pgscale_create_month_partitions('ev_berlin', 1);
SELECT bool_and(((regexp_match(pg_get_expr(relpartbound, oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz
        AT TIME ZONE 'Europe/Berlin')::time = '00:00') AS berlin_midnight
FROM pg_class WHERE oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'ev_berlin'::regclass);

-- bounds do not depend on the session's DateStyle, TimeZone, IntervalStyle
-- or extra_float_digits (SQL-style output printed Shanghai's zone as CST,
-- read back as US Central: partitions started at 06:00 UTC)
CREATE TABLE ev_shanghai (at timestamptz NOT NULL, d date) PARTITION BY RANGE (at);
CREATE TABLE ev_dmy (d date NOT NULL) PARTITION BY RANGE (d);
SELECT pgscale_set_partitioning('ev_shanghai', 2, 'Asia/Shanghai');
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Shanghai';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -15;
SELECT count(*) FROM pgscale_create_month_partitions('ev_shanghai', 2);
SELECT count(*) FROM pgscale_create_month_partitions('ev_dmy', 2,
    (date_trunc('month', current_date) - interval '13 months')::date);
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
SET TimeZone = 'UTC';
SELECT bool_and(((regexp_match(pg_get_expr(relpartbound, oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz
        AT TIME ZONE 'Asia/Shanghai') = date_trunc('month', (regexp_match(pg_get_expr(relpartbound, oid),
            'FROM \(''([^'']+)''\)'))[1]::timestamptz AT TIME ZONE 'Asia/Shanghai'))
       AS shanghai_month_starts
FROM pg_class WHERE oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'ev_shanghai'::regclass);
-- the instant next month begins in Shanghai is the first of a partition
INSERT INTO ev_shanghai (at) SELECT ((date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')
    + interval '1 month') AT TIME ZONE 'Asia/Shanghai') + g * interval '1 microsecond'
FROM generate_series(-1, 0) g;
SELECT count(DISTINCT tableoid) AS two_partitions FROM ev_shanghai;
-- date bounds under DMY: the first of each month, 16 of them
SELECT count(*) AS months,
       bool_and(extract(day FROM (regexp_match(pg_get_expr(relpartbound, oid), 'FROM \(''([^'']+)''\)'))[1]::date) = 1)
           AS first_days
FROM pg_class WHERE oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'ev_dmy'::regclass);
RESET TimeZone;

-- partitions made by hand at another zone's midnight (New York, Berlin), or
-- by week, cover months only in part: premake creates a partition for
-- exactly each uncovered range (<table>_YYYY_MM_gapN), and health reports
-- the gaps before; every hour of the premade months then has a partition
CREATE TABLE ev_ny (at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE ev_be (at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE ev_wk (at timestamptz NOT NULL) PARTITION BY RANGE (at);
DO $$
DECLARE
    z record;
    m timestamp;
    w timestamptz := date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
    FOR z IN SELECT * FROM (VALUES ('ev_ny', 'America/New_York'), ('ev_be', 'Europe/Berlin')) v(t, tz) LOOP
        m := date_trunc('month', now() AT TIME ZONE z.tz);
        FOR i IN 0..2 LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           z.t || '_hand' || i, z.t,
                           (m + i * interval '1 month') AT TIME ZONE z.tz,
                           (m + (i + 1) * interval '1 month') AT TIME ZONE z.tz);
        END LOOP;
    END LOOP;
    FOR i IN 0..5 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF ev_wk FOR VALUES FROM (%L) TO (%L)',
                       'ev_wk_week' || i, w + i * interval '1 week', w + (i + 1) * interval '1 week');
    END LOOP;
END $$;
SELECT pgscale_set_partitioning(t, 2) FROM unnest('{ev_ny,ev_be,ev_wk}'::regclass[]) t;
SELECT status FROM pgscale_health() WHERE check_name = 'partition gaps';
SELECT count(*) > 0 AS created, bool_and(p::text ~ '_[0-9]{4}_[0-9]{2}(_gap[0-9]+)?$') AS named
FROM unnest('{ev_ny,ev_be,ev_wk}'::regclass[]) t, pgscale_create_month_partitions(t, 2) p;
SELECT count(*) > 0 AS gap_pieces FROM pg_class WHERE relname ~ '^ev_(ny|be|wk)_[0-9]{4}_[0-9]{2}_gap[0-9]+$';
-- no default partition: an hour no partition covers would make this fail
INSERT INTO ev_ny SELECT g FROM generate_series(date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
    (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months' - interval '1 hour') AT TIME ZONE 'UTC',
    interval '1 hour') g;
INSERT INTO ev_be SELECT at FROM ev_ny;
INSERT INTO ev_wk SELECT at FROM ev_ny;
SELECT count(*) = (SELECT count(*) FROM ev_ny) AS all_hours_placed FROM ev_wk;
SELECT status FROM pgscale_health() WHERE check_name = 'partition gaps';
SELECT count(*) AS created_again
FROM unnest('{ev_ny,ev_be,ev_wk}'::regclass[]) t, pgscale_create_month_partitions(t, 2) p;

-- from_month: back-fill a range of months
SELECT count(*) AS backfilled
FROM pgscale_create_month_partitions('ev_ts', 0, (date_trunc('month', current_date) - interval '5 months')::date);

-- names past 63 bytes are clipped at a character boundary and stay unique
CREATE TABLE "a_tabelle_mit_einem_sehr_langen_namen_für_die_monatlichen_teile" (d date NOT NULL)
    PARTITION BY RANGE (d);
CREATE TABLE "b_tabelle_mit_einem_sehr_langen_namen_für_die_monatlichen_teile" (d date NOT NULL)
    PARTITION BY RANGE (d);
SELECT octet_length(p::text) <= 65 AS fits, p::text ~ '_[0-9a-f]{4}_[0-9]{4}_[0-9]{2}"?$' AS hashed
FROM pgscale_create_month_partitions('"a_tabelle_mit_einem_sehr_langen_namen_für_die_monatlichen_teile"', 0) p;
SELECT count(*) AS other_table_too
FROM pgscale_create_month_partitions('"b_tabelle_mit_einem_sehr_langen_namen_für_die_monatlichen_teile"', 0);

-- a month a wider partition already covers is skipped, not an error
CREATE TABLE wide (d date NOT NULL) PARTITION BY RANGE (d);
CREATE TABLE wide_all PARTITION OF wide FOR VALUES FROM (MINVALUE) TO ('3000-01-01');
SELECT count(*) AS created_under_wide FROM pgscale_create_month_partitions('wide', 3);

-- rows of the default that violate a NOT VALID check move with their month
-- (they were refused: the new partition had the check as a valid one); the
-- new partition's indexes are built before the rows go in, and adopted
CREATE TABLE nv (id int, d date NOT NULL, v int, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);
CREATE TABLE nv_default PARTITION OF nv DEFAULT;
INSERT INTO nv VALUES (1, current_date, -1), (2, current_date, 1), (3, '2097-01-01', 1);
ALTER TABLE nv ADD CONSTRAINT nv_v_positive CHECK (v > 0) NOT VALID;
SELECT count(*) AS created FROM pgscale_create_month_partitions('nv', 0);
SELECT count(*) AS rows, count(*) FILTER (WHERE tableoid = 'nv_default'::regclass) AS in_default,
       count(*) FILTER (WHERE tableoid::regclass::text = 'nv_' || to_char(current_date, 'YYYY_MM'))
           AS in_month
FROM nv;
SELECT conname, convalidated FROM pg_constraint
WHERE conrelid = ('nv_' || to_char(current_date, 'YYYY_MM'))::regclass AND contype = 'c' ORDER BY 1;
SELECT count(*) AS indexes, count(*) FILTER (WHERE x.indisprimary) AS pkey,
       bool_and(EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = x.indexrelid)) AS adopted
FROM pg_index x WHERE x.indrelid = ('nv_' || to_char(current_date, 'YYYY_MM'))::regclass;

-- months sub-partitioned by hash (or list): a new month gets the newest
-- month's partition key and sub-partitions (it was made a plain table)
CREATE TABLE mt (tenant_id int NOT NULL, d date NOT NULL, v int) PARTITION BY RANGE (d);
CREATE INDEX ON mt (tenant_id, d);
GRANT SELECT ON mt TO regress_part_reader;
CREATE TABLE ml (region text NOT NULL, d date NOT NULL) PARTITION BY RANGE (d);
CREATE TABLE mm (a int NOT NULL, b int NOT NULL, d date NOT NULL) PARTITION BY RANGE (d);
DO $$
DECLARE
    lo date := date_trunc('month', current_date) - interval '1 month';
    hi date := date_trunc('month', current_date);
    mt text := 'mt_' || to_char(lo, 'YYYY_MM');
    ml text := 'ml_' || to_char(lo, 'YYYY_MM');
    mm text := 'mm_' || to_char(lo, 'YYYY_MM');
BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF mt FOR VALUES FROM (%L) TO (%L) PARTITION BY HASH (tenant_id)', mt, lo, hi);
    FOR i IN 0..2 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS 3, REMAINDER %s)', mt || '_h' || i, mt, i);
    END LOOP;
    EXECUTE format('CREATE TABLE %I PARTITION OF ml FOR VALUES FROM (%L) TO (%L) PARTITION BY LIST (region)', ml, lo, hi);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (''eu'', ''uk'')', ml || '_eu', ml);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (''us'')', ml || '_us', ml);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', ml || '_rest', ml);
    EXECUTE format('CREATE TABLE %I PARTITION OF mm FOR VALUES FROM (%L) TO (%L) PARTITION BY LIST (a)', mm, lo, hi);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (1) PARTITION BY HASH (b)', mm || '_1', mm);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS 1, REMAINDER 0)', mm || '_1_h', mm || '_1');
END $$;
SELECT count(*) AS created FROM pgscale_create_month_partitions('mt', 1);
SELECT count(*) AS created FROM pgscale_create_month_partitions('ml', 1);
CREATE FUNCTION pg_temp.sub_shape(p regclass) RETURNS text LANGUAGE sql AS $$
    SELECT pg_get_partkeydef(p) || ': ' || string_agg(pg_get_expr(c.relpartbound, c.oid), '; '
                                                       ORDER BY pg_get_expr(c.relpartbound, c.oid))
    FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid WHERE h.inhparent = p
$$;
SELECT t, count(*) AS months,
       count(*) FILTER (WHERE c.relkind = 'p') AS partitioned,
       count(DISTINCT pg_temp.sub_shape(c.oid)) AS shapes,
       min(pg_temp.sub_shape(c.oid)) AS shape
FROM unnest('{mt,ml}'::regclass[]) t
JOIN pg_inherits h ON h.inhparent = t JOIN pg_class c ON c.oid = h.inhrelid
GROUP BY t ORDER BY t::text;
SELECT count(*) AS subpartitions,
       bool_and(c.relname ~ '^mt_[0-9]{4}_[0-9]{2}_h[0-2]$') AS named_like_siblings,
       bool_and(c.relowner = (SELECT relowner FROM pg_class WHERE oid = 'mt'::regclass)) AS owned,
       count(*) FILTER (WHERE c.relacl::text LIKE '%regress_part_reader=r/%') AS granted
FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
WHERE h.inhparent IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'mt'::regclass);
INSERT INTO mt SELECT g, current_date, g FROM generate_series(1, 30) g;
INSERT INTO ml VALUES ('eu', current_date), ('us', current_date), ('mars', current_date);
SELECT count(DISTINCT tableoid) AS leaves_used FROM mt;
SELECT array_agg(tableoid::regclass::text ~ '_(eu|us|rest)$' ORDER BY region) AS routed FROM ml;
-- a second level below the month: refused with a warning naming the tables
SET client_min_messages = error;
SELECT count(*) AS created FROM pgscale_create_month_partitions('mm', 0);
SET client_min_messages = warning;
SELECT regexp_replace(detail, '[0-9]{4}_[0-9]{2}|[0-9]{4}-[0-9]{2}', 'YYYY_MM', 'g') AS refusal
FROM pgscale_log WHERE table_name = 'part.mm' AND action = 'error';

-- a stray row far in the future changes nothing: premake counts from now
INSERT INTO metrics_aiusagedaily (member_id, date, suggestions) VALUES (1, '2097-05-01', 1);
SELECT count(*) AS created_for_2097 FROM pgscale_create_month_partitions('metrics_aiusagedaily', 2);
SELECT count(*) AS partitions_after_2097 FROM pg_inherits
WHERE inhparent = 'metrics_aiusagedaily'::regclass;

-- the owner's role member may create partitions; a stranger may not
SET ROLE regress_part_owner;
SELECT count(*) AS owner_created FROM pgscale_create_month_partitions('metrics_aiusagedaily', 4);
RESET ROLE;

\set VERBOSITY default
SET ROLE regress_part_reader;
SELECT * FROM pgscale_create_month_partitions('metrics_aiusagedaily', 5);
RESET ROLE;
-- bad input: each is an error and creates nothing
SELECT count(*) AS partitions_before FROM pg_inherits \gset
CREATE TABLE plain (d date);
SELECT * FROM pgscale_create_month_partitions('plain');
CREATE TABLE by_list (d date) PARTITION BY LIST (d);
SELECT * FROM pgscale_create_month_partitions('by_list');
CREATE TABLE by_two (d date, e date) PARTITION BY RANGE (d, e);
SELECT * FROM pgscale_create_month_partitions('by_two');
CREATE TABLE by_expr (d timestamp) PARTITION BY RANGE ((d::date));
SELECT * FROM pgscale_create_month_partitions('by_expr');
CREATE TABLE by_int (k int) PARTITION BY RANGE (k);
SELECT * FROM pgscale_create_month_partitions('by_int');
SELECT * FROM pgscale_create_month_partitions('ev_ts', -1);
SELECT * FROM pgscale_create_month_partitions('ev_ts', 121);
-- (the count runs from 1990 to the current month, so it grows every month:
-- assert that it is over the limit and that the message names the table)
DO $$
BEGIN
	PERFORM pgscale_create_month_partitions('ev_ts', 3, '1990-01-01');
	RAISE EXCEPTION 'the call was not refused';
EXCEPTION WHEN program_limit_exceeded THEN
	RAISE WARNING 'refused: %, over 120: %, names the table: %', true,
		substring(SQLERRM FROM 'up to ([0-9]+) partitions')::int > 120,
		SQLERRM LIKE '% of part.ev_ts';
END
$$;
SELECT * FROM pgscale_create_month_partitions(NULL);
SELECT * FROM pgscale_create_month_partitions('ev_ts', NULL);
-- from_month after the months to create, or infinite, is an error (it
-- silently created nothing)
DO $$
BEGIN
    PERFORM pgscale_create_month_partitions('ev_ts', 1,
        (date_trunc('month', current_date) + interval '5 months')::date);
    RAISE WARNING 'not refused';
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE WARNING 'refused: %', regexp_replace(SQLERRM, '[0-9]{4}-[0-9]{2}', 'YYYY-MM', 'g');
END $$;
SELECT count(*) FROM pgscale_create_month_partitions('ev_ts', 1, 'infinity');
SELECT count(*) FROM pgscale_create_month_partitions('ev_ts', 1, '-infinity');
SELECT pgscale_set_partitioning('ev_ts', -1);
SELECT pgscale_set_partitioning('ev_ts', 3, 'Mars/Olympus_Mons');
SELECT pgscale_set_partitioning('plain', 3);
\set VERBOSITY terse
SELECT count(*) = :partitions_before AS nothing_created FROM pg_inherits;

-- every creation is logged
SELECT action, count(*) > 0 AS logged FROM pgscale_log
WHERE action = 'create_partition' GROUP BY 1;

RESET search_path;
DROP SCHEMA part CASCADE;
DROP ROLE regress_part_owner;
DROP ROLE regress_part_reader;
