#!/bin/bash
# test/bench_columnar.sh: what compress_after gains on the seed-like table,
# partitioned by month: the bytes of the months older than 3 months (and
# inside the 365-day retention) on heap and once pgscale has converted them
# to columnar, and the median time of the dashboard query (one team, one
# month: sum and count) on those months, heap against columnar.
#
#     test/bench_columnar.sh --pg 17         # where citus_columnar is built
#     MEMBERS=1000 RUNS=11 test/bench_columnar.sh --pg 17
#
# citus_columnar comes with Citus, which Debian does not package: without
# citus_columnar.so in the server's pkglibdir the script says so and exits
# 0 (README.md, "Citus", says how it was built for the trixie chroot).
#
# The table: one row per member per day, ${MEMBERS:-2250} members in 50
# teams, from the first of the month 15 months ago through yesterday,
# stored in date order, primary key (id, date), unique (member_id, date,
# source), index (team_id, date), monthly partitions through two months
# ahead.  Retention 365 days runs first (CALL pgscale_cleanup_proc()), then
# VACUUM ANALYZE and CHECKPOINT; the heap figures are taken; then
# compress_after => '3 months' and CALL pgscale_cleanup_proc() converts the
# months, each logged with its duration (the time its partition was held
# under ACCESS EXCLUSIVE); the columnar figures are taken.  The dashboard
# query runs RUNS times (default 9) on every compressed month after one
# warm-up, timed inside the server (clock_timestamp()), median reported.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pgs_pg_option --include bc --env RUNS --env MEMBERS -- "$@"
set -- "${PGS_ARGS[@]}"
RUNS=${RUNS:-9}
MEMBERS=${MEMBERS:-2250}

pkglibdir=$("$PG_CONFIG" --pkglibdir)
if [ ! -f "$pkglibdir/citus_columnar.so" ]; then
	pgs_say "skipped: citus_columnar is not installed (no citus_columnar.so in $pkglibdir)"
	exit 0
fi

pgs_install_deps bc
pgs_stage_destdir
pgs_say "build"
pgs_build >/dev/null
pgs_cluster_start shared_preload_libraries=citus_columnar,pgscale max_wal_size=4GB \
	checkpoint_timeout=30min pgscale.max_delete_fraction=1

pgs_say "the seed-like table: $MEMBERS members in 50 teams, a row per member and day"
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION citus_columnar;
CREATE EXTENSION pgscale;
CREATE TABLE metrics_aiusagedaily (
    id bigserial,
    team_id integer NOT NULL,
    member_id integer NOT NULL,
    date date NOT NULL,
    source text NOT NULL,
    suggestions integer NOT NULL DEFAULT 0,
    acceptances integer NOT NULL DEFAULT 0,
    lines_accepted integer NOT NULL DEFAULT 0,
    active_minutes integer NOT NULL DEFAULT 0,
    PRIMARY KEY (id, date),
    UNIQUE (member_id, date, source)
) PARTITION BY RANGE (date);
CREATE INDEX ON metrics_aiusagedaily (team_id, date);
SELECT format('CREATE TABLE %I PARTITION OF metrics_aiusagedaily FOR VALUES FROM (%L) TO (%L)',
              'metrics_aiusagedaily_' || to_char(m, 'YYYYMM'), m::date, (m + interval '1 month')::date)
FROM generate_series(date_trunc('month', current_date - interval '15 months'),
                     date_trunc('month', current_date + interval '2 months'),
                     interval '1 month') m \gexec
INSERT INTO metrics_aiusagedaily (team_id, member_id, date, source, suggestions,
                                  acceptances, lines_accepted, active_minutes)
SELECT mem % 50 + 1, mem, d::date, 'ide',
       (mem * 7 + extract(doy FROM d)::int) % 200,
       (mem * 3 + extract(doy FROM d)::int) % 80,
       (mem * 11 + extract(doy FROM d)::int) % 400,
       (mem + extract(doy FROM d)::int) % 480
FROM generate_series(date_trunc('month', current_date - interval '15 months'),
                     current_date - 1, interval '1 day') d,
     generate_series(1, $MEMBERS) mem
ORDER BY d, mem;
SELECT pgscale_set_retention('metrics_aiusagedaily', '365 days');
SQL
psql -X -q -v ON_ERROR_STOP=1 -c 'CALL pgscale_cleanup_proc()' 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c 'VACUUM ANALYZE metrics_aiusagedaily' -c CHECKPOINT

# The months pgscale compresses: wholly inside the retention, wholly older
# than 3 months (the same rule as src/compress.c, for a date column).
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE bench_months AS
SELECT c.oid::regclass AS part, m::date AS lo, (m + interval '1 month')::date AS hi
FROM generate_series(date_trunc('month', current_date - interval '15 months'),
                     date_trunc('month', current_date + interval '2 months'),
                     interval '1 month') m
JOIN pg_class c ON c.relname = 'metrics_aiusagedaily_' || to_char(m, 'YYYYMM')
WHERE m >= current_date - 365 AND m + interval '1 month' <= current_date - interval '3 months';

CREATE FUNCTION bench_dashboard(runs integer) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    times float8[] := '{}';
    r record;
    s bigint;
    n bigint;
BEGIN
    FOR r IN SELECT lo, hi FROM bench_months ORDER BY lo LOOP
        -- one warm-up, then the timed runs
        FOR i IN 0..runs LOOP
            t0 := clock_timestamp();
            SELECT sum(suggestions), count(*) INTO s, n FROM metrics_aiusagedaily
            WHERE team_id = 7 AND date >= r.lo AND date < r.hi;
            IF i > 0 THEN
                times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
            END IF;
        END LOOP;
    END LOOP;
    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t) FROM unnest(times) t);
END
$$;
CREATE TABLE bench_sizes (state text, months int, total bigint, data bigint, median_ms float8);
SQL

measure() { # state
	psql -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO bench_sizes
		SELECT '$1', count(*), sum(pg_total_relation_size(part)),
		       sum(pg_total_relation_size(part)) - sum(pg_indexes_size(part)),
		       bench_dashboard($RUNS)
		FROM bench_months"
}

pgs_say "heap: sizes and the dashboard query"
measure heap
CHECKSUM="SELECT count(*) || '/' || sum(hashtext(id || ',' || date || ',' || suggestions)::bigint)
	FROM metrics_aiusagedaily WHERE date >= (SELECT min(lo) FROM bench_months)
	AND date < (SELECT max(hi) FROM bench_months)"
before=$(psql -X -At -c "$CHECKSUM")

pgs_say "compress_after => '3 months': CALL pgscale_cleanup_proc()"
psql -X -q -v ON_ERROR_STOP=1 \
	-c "SELECT pgscale_set_retention('metrics_aiusagedaily', '365 days', compress_after => '3 months')"
t0=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -c 'CALL pgscale_cleanup_proc()' 2>/dev/null
t1=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -c 'ANALYZE metrics_aiusagedaily' -c CHECKPOINT
after=$(psql -X -At -c "$CHECKSUM")
[ "$before" = "$after" ] || pgs_die "rows differ after compression: $before against $after"

pgs_say "columnar: sizes and the dashboard query"
measure columnar

psql -X -At -F ' ' -c "SELECT count(*),
	(SELECT count(*) FROM bench_months b JOIN pg_class c ON c.oid = b.part
	 JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'columnar'),
	round(extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY duration)) * 1000),
	round(extract(epoch FROM max(duration)) * 1000)
	FROM pgscale_log WHERE action = 'compress' AND detail LIKE 'converted%'" |
	{
		read -r logged converted lock_median lock_max
		pgs_say "results ($MEMBERS members, PostgreSQL $("$PG_CONFIG" --version | awk '{ print $2 }'), RUNS=$RUNS)"
		echo "months converted: $converted of $(psql -X -At -c 'SELECT count(*) FROM bench_months') ($logged logged);" \
			"rows and checksum equal: $after"
		printf 'compression run: %.1f s; per month under ACCESS EXCLUSIVE: median %s ms, longest %s ms\n' \
			"$(echo "$t1 - $t0" | bc -l)" "$lock_median" "$lock_max"
	}
psql -X -P footer=off -c "SELECT state, months, total AS total_bytes, data AS data_bytes,
	round(median_ms::numeric, 2) AS dashboard_median_ms FROM bench_sizes ORDER BY state DESC"
psql -X -At -c "SELECT format('total %s x smaller (target 5x), data without indexes %s x smaller; dashboard query columnar/heap %s',
	round(h.total::numeric / c.total, 2), round(h.data::numeric / c.data, 2),
	round((c.median_ms / h.median_ms)::numeric, 2))
	FROM bench_sizes h, bench_sizes c WHERE h.state = 'heap' AND c.state = 'columnar'"
