#!/bin/bash
# test/bench_convert.sh: convert the seed-like metrics_aiusagedaily (1.64M
# rows by default) to monthly partitions while pgbench inserts rows
# continuously, with pgscale_partition_table and with the seed document's
# migration (rename, create a partitioned copy, create the months, INSERT
# ... SELECT, in one transaction) on an identical copy, in the same run.
# Reports, per method, the longest insert latency seen while the conversion
# ran and how long the conversion took; then the same for
# pgscale_split_legacy.  Medians over several runs, and the ratios.
#
#     test/bench_convert.sh [runs]            # default 3 runs (or RUNS=)
#     PGS_DESTDIR=/tmp/stage test/bench_convert.sh
#     RUNS=3 test/bench_convert.sh --pg 17    # PostgreSQL 17 (trixie chroot)
#     ROWS=5500000 SPLIT=0 test/bench_convert.sh [--pg 17]
#
# The pgscale_partition_table cases, each on its own copy of the table:
#   one call   CALL pgscale_partition_table(..., extend_keys => true) on the
#              table as it is (primary key (id) only): pgscale builds the
#              key (id, date) itself, concurrently, over its loopback
#              connection, all of it in the time measured;
#   prepared   CREATE UNIQUE INDEX CONCURRENTLY on (id, date) by hand, then
#              the same call, which reuses it; both in the time measured;
#   blocking   a plain CREATE UNIQUE INDEX on (id, date) (it takes SHARE:
#              inserts wait for the whole build), then the same call: the
#              way to the extended key that blocks writes, for comparison.
#
# ROWS=n: about n rows in metrics_aiusagedaily (730 days of ROWS / 730
# members, rounded; the default is the seed's 2250 members, 1,642,500
# rows).  Issue 21 measures ROWS=1100000 (1,100,110 rows) and ROWS=5500000
# (5,499,820 rows).
# SPLIT=0: leave out pgscale_split_legacy (it takes minutes at 5.5M rows).
#
# TRACE=1: where the longest stall of pgscale_partition_table comes from
# (the one call and the prepared case).
# pg_stat_statements is preloaded with track = all and track_utility, so
# that every statement pgscale runs through SPI is counted with its time;
# the converting session logs at debug1 (each DDL's own messages, with
# millisecond timestamps), and log_lock_waits is on.  After each
# pgscale_partition_table run it prints the slowest statements, the
# timeline of the converting backend's log lines, and the inserts that took
# longer than 20 ms, on the same clock, each with what pg_stat_activity
# showed for the inserting backend, the converting one and pgscale's
# loopback session (the index build of the one call) while it waited
# (sampled every ~5 ms by another session: "CPU" is active with no wait
# event, i.e. running or waiting for a processor).
#
# CHECKPOINT_FIRST=1: a CHECKPOINT before each conversion, so that the WAL
# segments written before it are recycled and none of the conversions has
# to create new ones (see the README: a new segment is made by whichever
# backend first needs it, an insert as well, which then waits on
# IO:WalInitWrite while the 16 MB file is written).
#
# The copies of the data set are made with CREATE DATABASE ... STRATEGY
# FILE_COPY: the default (WAL_LOG) writes each copy (700 MB at 5.5M rows)
# to the WAL, which would then be checkpointed in the middle of a later
# conversion.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pgs_pg_option --include bc --env RUNS --env TRACE --env CHECKPOINT_FIRST --env ROWS --env SPLIT -- "$@"
set -- "${PGS_ARGS[@]}"
RUNS=${1:-${RUNS:-3}}
SPLIT=${SPLIT:-1}
MEMBERS=2250
if [ -n "${ROWS:-}" ]; then
	if ! [[ $ROWS =~ ^[0-9]+$ ]] || [ "$ROWS" -lt 730 ]; then
		pgs_die "ROWS=$ROWS: a number of rows, at least 730"
	fi
	MEMBERS=$(((ROWS + 365) / 730))
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-bench.XXXXXX")
chmod 755 "$WORK"
pgs_at_exit "rm -rf $(printf %q "$WORK")"

pgs_install_deps bc
pgs_stage_destdir
pgs_say "build"
pgs_build >/dev/null
TRACE=${TRACE:-0}
TRACE_SETTINGS=()
if [ "$TRACE" = 1 ]; then
	TRACE_SETTINGS=("shared_preload_libraries=pgscale,pg_stat_statements" pg_stat_statements.track=all
		pg_stat_statements.track_utility=on pg_stat_statements.max=10000 log_lock_waits=on)
fi
pgs_cluster_start shared_preload_libraries=pgscale maintenance_work_mem=256MB \
	max_wal_size=4GB checkpoint_timeout=30min "${TRACE_SETTINGS[@]}"

# One pgbench client inserting rows as the application would, through the
# table's name, each insert its own transaction; latencies logged.
cat >"$WORK/insert.sql" <<'SQL'
\set m random(1, 2250)
\set k random(1, 2000000000)
INSERT INTO metrics_aiusagedaily (team_id, member_id, date, source, suggestions)
VALUES (:m / 50 + 1, :m, current_date, 'bench-' || :k, 1);
SQL

# longest latency (ms) and count of inserts that ended in [from, to] (epoch s)
stall() { # logprefix from to
	cat "$1".* | awk -v from="$2" -v to="$3" '
		{ end = $5 + $6 / 1e6; start = end - $3 / 1e6
		  if (end >= from && start <= to) { n++; if ($3 > max) max = $3 } }
		END { printf "%.1f %d\n", max / 1000, n }'
}

now() { date +%s.%N; }

# Run one conversion (a psql script) in database $1 under a pgbench load;
# prints "seconds stall_ms inserts".
measure() { # db label sqlfile
	local db=$1 label=$2 sql=$3 t0 t1 pid
	rm -f "$WORK/$label".*
	[ "${CHECKPOINT_FIRST:-0}" = 1 ] && psql -X -q -d "$db" -c CHECKPOINT
	"$PGS_BINDIR/pgbench" -n -c 1 -T 600 -f "$WORK/insert.sql" --log --log-prefix="$WORK/$label" "$db" \
		>"$WORK/$label.pgbench" 2>&1 &
	pid=$!
	sleep 3
	t0=$(now)
	psql -X -q -v ON_ERROR_STOP=1 ${TRACE_VAR:+-v "$TRACE_VAR"} -d "$db" -f "$sql" >"$WORK/$label.out" 2>&1 ||
		{ cat "$WORK/$label.out"; kill "$pid"; exit 1; }
	t1=$(now)
	sleep 2
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	read -r max n < <(stall "$WORK/$label" "$t0" "$t1")
	if [ "$TRACE" = 1 ] && [ -n "${SAMPLER:-}" ]; then
		psql -X -q -d postgres -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
		                           WHERE application_name = 'bench_sampler'" >/dev/null
		trace "$db" "$WORK/$label" "$t0" "$t1" >&2
	fi
	echo "$(echo "$t1 - $t0" | bc -l | xargs printf '%.2f') $max $n"
}

TRACE_VAR=
[ "$TRACE" = 1 ] && TRACE_VAR=trace=1
LOG_START=0
# What the converting backend did while the inserts stalled (TRACE=1).
trace() { # db logprefix from to
	local db=$1
	echo "--- trace: slowest statements of the conversion (pg_stat_statements, track = all)"
	psql -X -q -d "$db" -P pager=off -c "
		SELECT round(max_exec_time::numeric, 1) AS max_ms, calls,
		       round(total_exec_time::numeric, 1) AS total_ms,
		       left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS statement
		  FROM pg_stat_statements
		 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		   AND query !~* 'pg_stat_statements'
		 ORDER BY max_exec_time DESC LIMIT 14"
	echo "--- trace: the converting backend's log lines (server clock)"
	tail -c +"$((LOG_START + 1))" "$PGS_CLUSTER_DIR/server.log" | grep ' bench_convert ' |
		grep -vE 'CONTEXT|EventTriggerInvoke|deduplication|pg_toast|^\s*$' |
		cut -c1-160 | head -n 40 || true
	echo "--- trace: inserts over 20 ms (start and end, server clock)"
	cat "$2".* | awk -v from="$3" -v to="$4" '
		{ end = $5 + $6 / 1e6; start = end - $3 / 1e6
		  if (end >= from && start <= to && $3 > 20000) printf "%.6f %.6f %.1f\n", start, end, $3 / 1000 }' |
		while read -r a b ms; do
			echo "insert from $(date -u -d "@$a" '+%H:%M:%S.%3N') to $(date -u -d "@$b" '+%H:%M:%S.%3N'): $ms ms;" \
				"$(psql -X -qAt -d postgres -c "
				SELECT coalesce(string_agg(format('%s %s x%s', app, ev, n), ', ' ORDER BY app, n DESC), 'no samples')
				  FROM (SELECT CASE app WHEN 'pgbench' THEN 'insert' WHEN 'pgscale conversion' THEN 'index build'
		                        ELSE 'conversion' END AS app,
				               CASE WHEN state <> 'active' THEN state
				                    ELSE coalesce(wtype || ':' || wevent, 'CPU') END AS ev, count(*) AS n
				          FROM bench_samples
				         WHERE at BETWEEN to_timestamp($a) AND to_timestamp($b)
				         GROUP BY 1, 2) s")"
		done
}

# the session settings of the three pgscale_partition_table cases
cat >"$WORK/head.sql" <<'SQL'
SET client_min_messages = warning;
SET application_name = 'bench_convert';
\if :{?trace}
SET log_min_messages = debug1;
SELECT pg_stat_statements_reset();
\endif
SQL
{
	cat "$WORK/head.sql"
	echo "CALL pgscale_partition_table('metrics_aiusagedaily', 'date', extend_keys => true);"
} >"$WORK/do-onecall.sql"
{
	cat "$WORK/head.sql"
	echo "CREATE UNIQUE INDEX CONCURRENTLY metrics_aiusagedaily_id_date ON metrics_aiusagedaily (id, date);"
	echo "CALL pgscale_partition_table('metrics_aiusagedaily', 'date', extend_keys => true);"
} >"$WORK/do-pgscale.sql"
{
	cat "$WORK/head.sql"
	echo "CREATE UNIQUE INDEX metrics_aiusagedaily_id_date ON metrics_aiusagedaily (id, date);"
	echo "CALL pgscale_partition_table('metrics_aiusagedaily', 'date', extend_keys => true);"
} >"$WORK/do-blocking.sql"
cat >"$WORK/do-split.sql" <<'SQL'
SET client_min_messages = warning;
CALL pgscale_split_legacy('metrics_aiusagedaily');
SQL
# The seed document's migration.  Its LIKE ... INCLUDING ALL would fail here
# (the primary key lacks the partition column), so the keys are recreated
# with the date, after the copy, as one would have to.
cat >"$WORK/do-seed.sql" <<'SQL'
BEGIN;
ALTER TABLE metrics_aiusagedaily RENAME TO metrics_aiusagedaily_old;
CREATE TABLE metrics_aiusagedaily (LIKE metrics_aiusagedaily_old
    INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)
    PARTITION BY RANGE (date);
SELECT format('CREATE TABLE metrics_aiusagedaily_%s PARTITION OF metrics_aiusagedaily'
              ' FOR VALUES FROM (%L) TO (%L)', to_char(m, 'YYYY_MM'), m::date,
              (m + interval '1 month')::date)
FROM generate_series(date_trunc('month', (SELECT min(date) FROM metrics_aiusagedaily_old)),
                     date_trunc('month', current_date + 93), interval '1 month') m \gexec
INSERT INTO metrics_aiusagedaily SELECT * FROM metrics_aiusagedaily_old;
ALTER TABLE metrics_aiusagedaily
    ADD CONSTRAINT metrics_aiusagedaily_pk PRIMARY KEY (id, date),
    ADD CONSTRAINT metrics_aiusagedaily_mds UNIQUE (member_id, date, source);
CREATE INDEX metrics_aiusagedaily_td ON metrics_aiusagedaily (team_id, date);
ALTER SEQUENCE metrics_aiusagedaily_id_seq OWNED BY metrics_aiusagedaily.id;
DROP TABLE metrics_aiusagedaily_old;
COMMIT;
SQL

if [ "$TRACE" = 1 ]; then
	psql -X -q -v ON_ERROR_STOP=1 -d postgres <<'SQL'
CREATE TABLE bench_samples (at timestamptz, app text, state text, wtype text, wevent text);
CREATE PROCEDURE bench_sample(db text, max_wait interval) LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    PERFORM set_config('application_name', 'bench_sampler', false);
    LOOP
        INSERT INTO bench_samples
        SELECT clock_timestamp(), application_name, state, wait_event_type, wait_event
          FROM pg_stat_activity
         WHERE datname = db AND application_name IN ('pgbench', 'bench_convert', 'pgscale conversion');
        COMMIT;
        EXIT WHEN clock_timestamp() - started > max_wait;
        PERFORM pg_sleep(0.005);
    END LOOP;
END $$;
SQL
fi

pgs_say "seed-like data set"
createdb seed_template
psql -X -q -v ON_ERROR_STOP=1 -v members="$MEMBERS" -d seed_template -f "$PGS_ROOT/test/data/seed.sql"
psql -X -q -d seed_template -c 'CREATE EXTENSION pgscale'
[ "$TRACE" = 1 ] && psql -X -q -d seed_template -c 'CREATE EXTENSION pg_stat_statements'
NROWS=$(psql -X -qAt -d seed_template -c "SELECT count(*) FROM metrics_aiusagedaily")
echo "rows: $NROWS"

# a fresh copy of the data set, vacuumed
copy() { # db
	createdb -T seed_template -S file_copy "$1"
	psql -X -q -d "$1" -c 'VACUUM ANALYZE'
}

# measure, with the wait events sampled when TRACE=1; prints what measure does
measure_case() { # db label sqlfile
	SAMPLER=
	if [ "$TRACE" = 1 ]; then
		psql -X -q -d postgres -c 'TRUNCATE bench_samples'
		psql -X -q -d postgres -c "CALL bench_sample('$1', '900 s')" >/dev/null 2>&1 &
		SAMPLER=$!
	fi
	LOG_START=$(stat -c %s "$PGS_CLUSTER_DIR/server.log")
	measure "$@"
	if [ -n "$SAMPLER" ]; then
		kill "$SAMPLER" 2>/dev/null || true
		wait "$SAMPLER" 2>/dev/null || true
		SAMPLER=
	fi
}

RESULTS=$WORK/results
: >"$RESULTS"
st=0 ss=0 sn=0
for run in $(seq 1 "$RUNS"); do
	pgs_say "run $run of $RUNS"
	for db in bench_onecall bench_pgscale bench_blocking bench_seed; do
		copy "$db"
	done
	read -r ot os on < <(measure_case bench_onecall onecall "$WORK/do-onecall.sql")
	read -r pt ps pn < <(measure_case bench_pgscale pgscale "$WORK/do-pgscale.sql")
	[ "$SPLIT" = 1 ] && read -r st ss sn < <(measure bench_pgscale split "$WORK/do-split.sql")
	read -r bt bs bn < <(measure bench_blocking blocking "$WORK/do-blocking.sql")
	read -r mt ms mn < <(measure bench_seed seed "$WORK/do-seed.sql")
	# pgbench is stopped with SIGTERM: its last buffered log lines may be
	# lost, never rows, so the table holds at least the logged inserts
	lost=$(psql -X -qAt -d bench_pgscale -c "SELECT count(*) FROM metrics_aiusagedaily WHERE source LIKE 'bench-%'")
	made=$(cat "$WORK"/pgscale.[0-9]* | wc -l)
	[ "$SPLIT" = 1 ] && made=$((made + $(cat "$WORK"/split.[0-9]* | wc -l)))
	olost=$(psql -X -qAt -d bench_onecall -c "SELECT count(*) FROM metrics_aiusagedaily WHERE source LIKE 'bench-%'")
	omade=$(cat "$WORK"/onecall.[0-9]* | wc -l)
	printf 'one call (index built by pgscale): %6.2f s, longest insert %8.1f ms (%d inserts)\n' "$ot" "$os" "$on"
	printf 'prepared concurrent index + call:  %6.2f s, longest insert %8.1f ms (%d inserts)\n' "$pt" "$ps" "$pn"
	[ "$SPLIT" = 1 ] &&
		printf 'pgscale_split_legacy:              %6.2f s, longest insert %8.1f ms (%d inserts)\n' "$st" "$ss" "$sn"
	printf 'plain CREATE UNIQUE INDEX + call:  %6.2f s, longest insert %8.1f ms (%d inserts)\n' "$bt" "$bs" "$bn"
	printf 'seed migration:                    %6.2f s, longest insert %8.1f ms (%d inserts)\n' "$mt" "$ms" "$mn"
	printf 'inserts by pgbench during the one call: %s logged, %s rows in the table (none lost: %s)\n' \
		"$omade" "$olost" "$([ "$olost" -ge "$omade" ] && echo yes || echo NO)"
	printf 'inserts by pgbench during the prepared runs: %s logged, %s rows in the table (none lost: %s)\n' \
		"$made" "$lost" "$([ "$lost" -ge "$made" ] && echo yes || echo NO)"
	echo "$pt $ps $st $ss $mt $ms $ot $os $bt $bs" >>"$RESULTS"
	for db in bench_onecall bench_pgscale bench_blocking bench_seed; do
		dropdb "$db"
	done
done

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$1" '{ print $c }' "$RESULTS" | median; }
runs() { awk -v c="$1" '{ printf "%s%s", sep, $c; sep = ", " }' "$RESULTS"; }
PT=$(col 1) PS=$(col 2) ST=$(col 3) SS=$(col 4) MT=$(col 5) MS=$(col 6)
OT=$(col 7) OS=$(col 8) BT=$(col 9) BS=$(col 10)
pgs_say "PostgreSQL $("$PG_CONFIG" --version | awk '{ print $2 }'), $NROWS rows: medians over $RUNS runs (single runs in brackets)"
printf '%-34s %9s %22s\n' method time "longest insert stall"
line() { # label time stall column-of-stall
	printf '%-34s %8.2fs %20.1fms  (%s)\n' "$1" "$2" "$3" "$(runs "$4")"
}
line "one call (extend_keys builds)" "$OT" "$OS" 8
line "prepared concurrent index + call" "$PT" "$PS" 2
[ "$SPLIT" = 1 ] && line "pgscale_split_legacy" "$ST" "$SS" 4
line "plain CREATE UNIQUE INDEX + call" "$BT" "$BS" 10
line "seed migration" "$MT" "$MS" 6
printf 'one call times: (%s) s\n' "$(runs 7)"
printf 'stall ratio one call / seed migration:       1/%.0f\n' "$(echo "$MS / $OS" | bc -l)"
printf 'stall ratio prepared / seed migration:       1/%.0f\n' "$(echo "$MS / $PS" | bc -l)"
[ "$SPLIT" = 1 ] && printf 'stall ratio pgscale_split_legacy / seed:     1/%.0f\n' "$(echo "$MS / $SS" | bc -l)"
ok=yes
awk -v p="$PS" -v m="$MS" 'BEGIN { exit !(p <= 1000 && p * 20 <= m) }' || ok=no
[ "$SPLIT" = 1 ] && { awk -v s="$SS" -v m="$MS" 'BEGIN { exit !(s <= 1000 && s * 20 <= m) }' || ok=no; }
echo "targets (stall <= 1 s and <= 1/20 of the seed migration's): $ok"
ok=yes
awk -v o="$OS" 'BEGIN { exit !(o <= 100) }' || ok=no
echo "issue 21 target (one call: longest insert stall <= 100 ms): $ok"
