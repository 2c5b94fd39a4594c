#!/bin/bash
# test/bench_reclaim.sh: give back the space of a purge of the older half of
# the seed-like plain table, with CALL pgscale_reclaim() and with VACUUM
# FULL, each on an identical copy, while pgbench runs the application's
# reads and inserts.  Reports per method the bytes returned to the file
# system, the wall time, and the longest latency of a pgbench transaction
# (an insert of today's row and a select of one team's last week) that ran
# during it.  Medians over several runs, and the ratios.
#
#     test/bench_reclaim.sh [runs]           # default 3 runs (or RUNS=)
#     ROWS=2000000 test/bench_reclaim.sh
#     RUNS=3 test/bench_reclaim.sh --pg 17   # PostgreSQL 17 (trixie chroot)
#     APP=select test/bench_reclaim.sh       # the application only reads
#
# A third measurement, "idle", runs pg_sleep() for as long as the
# compaction took, on a copy no method touches: the longest transaction
# of the application with nothing running, the noise floor of this
# machine that the two stalls are to be read against.
#
# The copies are made with CREATE DATABASE ... STRATEGY FILE_COPY from one
# template, purged (DELETE of the older half) and vacuumed there, so that
# both methods start from the same file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pgs_pg_option --include bc --env RUNS --env ROWS --env APP -- "$@"
set -- "${PGS_ARGS[@]}"
RUNS=${1:-${RUNS:-3}}
ROWS=${ROWS:-1000000}
APP=${APP:-insert}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-bench.XXXXXX")
chmod 755 "$WORK"
pgs_at_exit "rm -rf $(printf %q "$WORK")"

pgs_install_deps bc
pgs_stage_destdir
pgs_say "build"
pgs_build >/dev/null
pgs_cluster_start shared_preload_libraries=pgscale max_wal_size=4GB checkpoint_timeout=30min

pgs_say "the seed-like table: $ROWS rows, the older half deleted"
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE DATABASE reclaim_src;
\c reclaim_src
CREATE EXTENSION pgscale;
CREATE TABLE metrics_aiusagedaily (
    id bigserial PRIMARY KEY,
    team_id integer NOT NULL,
    member_id integer NOT NULL,
    date date NOT NULL,
    source text NOT NULL,
    suggestions integer NOT NULL DEFAULT 0,
    UNIQUE (member_id, date, source)
);
CREATE INDEX ON metrics_aiusagedaily (team_id, date);
INSERT INTO metrics_aiusagedaily (team_id, member_id, date, source, suggestions)
SELECT g % 45 + 1, g % 2250, date '2024-01-01' + (g * 730 / $ROWS)::int, 'src-' || g, g % 100
FROM generate_series(1, $ROWS) g;
DELETE FROM metrics_aiusagedaily WHERE id <= $ROWS / 2;
VACUUM ANALYZE metrics_aiusagedaily;
SQL

if [ "$APP" = insert ]; then
	cat >"$WORK/app.sql" <<'SQL'
\set t random(1, 45)
\set k random(1, 2000000000)
BEGIN;
INSERT INTO metrics_aiusagedaily (team_id, member_id, date, source, suggestions)
VALUES (:t, :k % 2250, date '2026-01-01', 'bench-' || :k, 1);
SELECT count(*) FROM metrics_aiusagedaily WHERE team_id = :t AND date >= date '2025-12-20';
END;
SQL
else
	cat >"$WORK/app.sql" <<'SQL'
\set t random(1, 45)
SELECT count(*) FROM metrics_aiusagedaily WHERE team_id = :t AND date >= date '2025-12-20';
SQL
fi

stall() { # logprefix from to: longest latency (ms) of the transactions in [from, to]
	cat "$1".* | awk -v from="$2" -v to="$3" '
		{ end = $5 + $6 / 1e6; start = end - $3 / 1e6
		  if (end >= from && start <= to && $3 > max) max = $3 }
		END { printf "%.1f\n", max / 1000 }'
}
now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# measure LABEL SQL: on a fresh copy; prints "seconds stall_ms bytes_returned"
measure() {
	local label=$1 sql=$2 db="reclaim_$1" t0 t1 pid before after max
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" \
		-c "CREATE DATABASE $db TEMPLATE reclaim_src STRATEGY FILE_COPY" >/dev/null
	psql -X -q -d "$db" -c CHECKPOINT
	before=$(psql -X -At -d "$db" -c "SELECT pg_relation_size('metrics_aiusagedaily')")
	rm -f "$WORK/$label".*
	"$PGS_BINDIR/pgbench" -n -c 2 -T 900 -f "$WORK/app.sql" --log --log-prefix="$WORK/$label" "$db" \
		>"$WORK/$label.pgbench" 2>&1 &
	pid=$!
	sleep 3
	t0=$(now)
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "$sql" >"$WORK/$label.out" 2>&1 ||
		{ cat "$WORK/$label.out"; kill "$pid"; exit 1; }
	t1=$(now)
	sleep 2
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	after=$(psql -X -At -d "$db" -c "SELECT pg_relation_size('metrics_aiusagedaily')")
	max=$(stall "$WORK/$label" "$t0" "$t1")
	psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
	echo "$(echo "$t1 - $t0" | bc -l | xargs printf '%.2f') $max $((before - after))"
}

RESULTS="$WORK/results"
: >"$RESULTS"
for run in $(seq 1 "$RUNS"); do
	r=$(measure reclaim "CALL pgscale_reclaim('metrics_aiusagedaily')")
	f=$(measure full "VACUUM FULL metrics_aiusagedaily")
	read -r a b c <<<"$r"
	read -r d e g <<<"$f"
	i=$(measure idle "SELECT pg_sleep($a)")
	read -r _ h _ <<<"$i"
	echo "$r $f $h" >>"$RESULTS"
	pgs_say "run $run: pgscale_reclaim $a s, stall $b ms, $c bytes returned | VACUUM FULL $d s, stall $e ms, $g bytes returned | idle: longest $h ms"
done
col() { awk -v c="$1" '{ print $c }' "$RESULTS" | median; }
RT=$(col 1) RS=$(col 2) RB=$(col 3) FT=$(col 4) FS=$(col 5) FB=$(col 6) IS=$(col 7)
pgs_say "medians of $RUNS runs ($ROWS rows, the older half purged; the application: $APP)"
printf '%-18s %10s %12s %14s\n' method "time (s)" "stall (ms)" "bytes returned"
printf '%-18s %10s %12s %14s\n' pgscale_reclaim "$RT" "$RS" "$RB"
printf '%-18s %10s %12s %14s\n' "VACUUM FULL" "$FT" "$FS" "$FB"
printf '%-18s %10s %12s %14s\n' "idle (pg_sleep)" "$RT" "$IS" 0
printf 'bytes: %.2f of VACUUM FULL'"'"'s (target 0.80); time: %.2fx; stall: %.1f ms (target under 50), %.1f ms with nothing running\n' \
	"$(echo "$RB / $FB" | bc -l)" "$(echo "$RT / $FT" | bc -l)" "$RS" "$IS"
