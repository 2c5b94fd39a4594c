#!/bin/bash
# test/bench_maintenance.sh: the maintenance cycle with nothing to do, and
# the background worker at rest.
#
#     test/bench_maintenance.sh            # both parts, ten idle minutes
#     test/bench_maintenance.sh --quick    # idle part measured over 60 s
#     test/bench_maintenance.sh --pg 17    # PostgreSQL 17, pg_partman 5.2
#                                          # (trixie chroot)
#
# 1. Maintenance with nothing due: SETS monthly partition sets (default
#    100) of PARTS partitions each (default 28: 24 months back, this month,
#    3 ahead) plus a default partition, a row a day in each, retention
#    5 years (longer than the oldest partition), premake already done.
#    pgscale (pgscale_set_partitioning + pgscale_set_retention) and
#    pg_partman (4.7 on 15: create_parent(..., 'native', 'monthly',
#    p_premake := 3); 5.2 on 17: create_parent(..., '1 month', p_premake :=
#    3); retention '5 years') get identical sets in the same database.  One
#    pgscale_run_maintenance() against one partman.run_maintenance(),
#    alternated, RUNS times each after a warm-up run; medians and their
#    ratio (target: at most 0.05).
#
# 2. The worker at rest: pgscale.naptime = 60 s (--naptime; the default
#    setting, 3600 s, would run no cycle at all in the window) on those
#    sets, so ten cycles in ten minutes, all with nothing to do.  CPU time
#    (/proc/PID/stat utime + stime) and resident memory (/proc/PID/status
#    VmRSS, with its private part RssAnon, and the proportional share Pss
#    from /proc/PID/smaps_rollup) of the launcher at the start and end of
#    the window, beside the same figures of PostgreSQL's own idle
#    "logical replication launcher" as a baseline; and the CPU time of the
#    per-database workers that ended in the window (the postmaster's
#    cutime + cstime: autovacuum is off and no client is connected, so
#    they are the only children that exit).  Targets: under one CPU
#    second, under 10 MB resident.  --quick measures 60 s and extrapolates
#    the CPU time to ten minutes (and says so).
#
# Options: --pg 15|17|18, --quick, --idle-seconds N, --naptime S (default
# 60), --runs N (default 7; or RUNS=N), --sets N, --skip-idle,
# --skip-maintenance, --no-build (use the pgscale already installed).
# Runs as root like the other scripts (the cluster runs as postgres);
# PGS_DESTDIR works as for test/run_tests.sh.
set -euo pipefail

# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pgs_pg_option --env RUNS -- "$@"
set -- "${PGS_ARGS[@]}"

SETS=100
PARTS=28
RUNS=${RUNS:-7}
IDLE=600
NAPTIME=60
QUICK=0
BUILD=1
DO_IDLE=1
DO_MAINT=1
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 IDLE=60 ;;
	--idle-seconds) IDLE=$2 && shift ;;
	--runs) RUNS=$2 && shift ;;
	--naptime) NAPTIME=$2 && shift ;;
	--sets) SETS=$2 && shift ;;
	--skip-idle) DO_IDLE=0 ;;
	--skip-maintenance) DO_MAINT=0 ;;
	--no-build) BUILD=0 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) pgs_die "unknown option '$1' (see --help)" ;;
	esac
	shift
done
[ "$PARTS" -ge 5 ] || pgs_die "PARTS must be at least 5"
MONTHS_BACK=$((PARTS - 4))

# shellcheck disable=SC2119  # no extra packages
pgs_install_deps
if [ "$BUILD" = 1 ]; then
	pgs_stage_destdir
	pgs_say "build: make WERROR=1 && make install"
	pgs_build >/dev/null
fi

pgs_say "cluster: pgscale preloaded, worker off while timing, autovacuum off"
pgs_cluster_start shared_preload_libraries=pgscale pgscale.databases=bench \
	pgscale.naptime="$NAPTIME" pgscale.enabled=off autovacuum=off \
	shared_buffers=256MB max_locks_per_transaction=256
export PGDATABASE=bench
psql -X -q -d postgres -c 'CREATE DATABASE bench'

q() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

# ---------------------------------------------------------------------------
pgs_say "$SETS partition sets of $PARTS monthly partitions each, for pgscale and for pg_partman"
START=$SECONDS
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pgscale;
CREATE SCHEMA partman;
CREATE EXTENSION pg_partman SCHEMA partman;

-- milliseconds one statement takes, run inside this function's transaction
CREATE FUNCTION bench_ms(sql text) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE sql;
    RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1000, 2);
END \$\$;

DO \$\$
DECLARE
    first_month date := date_trunc('month', now()) - interval '$MONTHS_BACK months';
BEGIN
    FOR i IN 1..$SETS LOOP
        -- pgscale: this month's partitions and 3 ahead, from first_month
        EXECUTE format('CREATE TABLE ps_%s (id bigint NOT NULL, ts timestamptz NOT NULL, payload text)
                        PARTITION BY RANGE (ts)', i);
        EXECUTE format('CREATE INDEX ON ps_%s (ts)', i);
        EXECUTE format('CREATE TABLE ps_%s_default PARTITION OF ps_%s DEFAULT', i, i);
        PERFORM pgscale_create_month_partitions(format('ps_%s', i)::regclass, 3, first_month);
        PERFORM pgscale_set_partitioning(format('ps_%s', i)::regclass, 3);
        PERFORM pgscale_set_retention(format('ps_%s', i)::regclass, interval '5 years', 'ts');
        EXECUTE format('INSERT INTO ps_%s SELECT extract(epoch FROM d)::bigint, d, ''x''
                        FROM generate_series(\$1::timestamptz, now(), interval ''1 day'') d', i)
        USING first_month;

        -- pg_partman: the same set
        EXECUTE format('CREATE TABLE pm_%s (id bigint NOT NULL, ts timestamptz NOT NULL, payload text)
                        PARTITION BY RANGE (ts)', i);
        EXECUTE format('CREATE INDEX ON pm_%s (ts)', i);
        IF (SELECT split_part(extversion, '.', 1)::integer FROM pg_extension
             WHERE extname = 'pg_partman') >= 5 THEN
            PERFORM partman.create_parent(format('public.pm_%s', i), 'ts', '1 month',
                                          p_premake := 3, p_start_partition := first_month::text);
        ELSE
            PERFORM partman.create_parent(format('public.pm_%s', i), 'ts', 'native', 'monthly',
                                          p_premake := 3, p_start_partition := first_month::text);
        END IF;
        UPDATE partman.part_config SET retention = '5 years', retention_keep_table = false
        WHERE parent_table = format('public.pm_%s', i);
        EXECUTE format('INSERT INTO pm_%s SELECT extract(epoch FROM d)::bigint, d, ''x''
                        FROM generate_series(\$1::timestamptz, now(), interval ''1 day'') d', i)
        USING first_month;
    END LOOP;
END \$\$;
ANALYZE;
SQL
echo "made in $((SECONDS - START)) s"

# partitions per side (the default partition included)
count_partitions() {
	q -c "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
	      WHERE p.relname ~ '^$1_[0-9]+\$'"
}
PS_PARTS=$(count_partitions ps)
PM_PARTS=$(count_partitions pm)
echo "pgscale: $PS_PARTS partitions, pg_partman: $PM_PARTS partitions (each $SETS x ($PARTS + default))"
[ "$PS_PARTS" = $((SETS * (PARTS + 1))) ] || pgs_die "pgscale sets are not as planned"
[ "$PM_PARTS" = $((SETS * (PARTS + 1))) ] || pgs_die "pg_partman sets are not as planned"

# ---------------------------------------------------------------------------
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

if [ "$DO_MAINT" = 1 ]; then
	pgs_say "PostgreSQL $("$PG_CONFIG" --version | awk '{ print $2 }'), maintenance with nothing due: $RUNS runs each after a warm-up, alternated"
	DUE=$(q -c "SELECT count(*) FROM pgscale_run_maintenance(true)
	            WHERE action NOT IN ('retention', 'prune_log') OR coalesce(rows, 0) <> 0")
	[ "$DUE" = 0 ] || pgs_die "pgscale has $DUE actions due; the sets are not idle"
	SEEN=$(q -c "SELECT count(*) FROM pgscale_run_maintenance(true) WHERE action = 'retention'")
	[ "$SEEN" = "$SETS" ] || pgs_die "a pgscale cycle looks at $SEEN sets, not $SETS"
	echo "a pgscale cycle looks at all $SEEN sets and finds nothing to do"

	PS_SQL='SELECT count(*) FROM pgscale_run_maintenance()'
	PM_SQL='SELECT partman.run_maintenance()'
	# warm-up, then alternate in one session
	{
		echo "SELECT 'warm', bench_ms('$PS_SQL'), bench_ms('$PM_SQL');"
		for i in $(seq 1 "$RUNS"); do
			echo "SELECT 'pgscale', bench_ms('$PS_SQL');"
			echo "SELECT 'partman', bench_ms('$PM_SQL');"
		done
	} | q -F ' ' >"$PGS_CLUSTER_DIR/times"

	[ "$(count_partitions ps)" = "$PS_PARTS" ] || pgs_die "pgscale changed its partitions"
	[ "$(count_partitions pm)" = "$PM_PARTS" ] || pgs_die "pg_partman changed its partitions"

	PS_MS=$(awk '$1 == "pgscale" { print $2 }' "$PGS_CLUSTER_DIR/times" | median)
	PM_MS=$(awk '$1 == "partman" { print $2 }' "$PGS_CLUSTER_DIR/times" | median)
	printf '%-40s %s\n' "pgscale_run_maintenance() runs (ms):" \
		"$(awk '$1 == "pgscale" { printf "%s ", $2 }' "$PGS_CLUSTER_DIR/times")"
	printf '%-40s %s\n' "partman.run_maintenance() runs (ms):" \
		"$(awk '$1 == "partman" { printf "%s ", $2 }' "$PGS_CLUSTER_DIR/times")"
	printf '%-40s %10.2f ms\n' "pgscale median:" "$PS_MS"
	printf '%-40s %10.2f ms\n' "pg_partman $(q -c "SELECT extversion FROM pg_extension
	                                                 WHERE extname = 'pg_partman'") median:" "$PM_MS"
	RATIO=$(awk -v a="$PS_MS" -v b="$PM_MS" 'BEGIN { printf "%.4f", a / b }')
	MET=$(awk -v r="$RATIO" 'BEGIN { print (r <= 0.05) ? "yes" : "NO" }')
	printf '%-40s %10sx  (target <= 0.05x: %s)\n' "ratio pgscale / pg_partman:" "$RATIO" "$MET"
fi

# ---------------------------------------------------------------------------
# /proc figures of one process: "utime+stime cutime+cstime" in clock ticks
proc_cpu() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13, $14 + $15 }' "/proc/$1/stat"
}
proc_kb() {
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}
# resident memory of a process: "VmRSS RssAnon Pss" in kB
proc_mem() {
	echo "$(proc_kb "$1" VmRSS) $(proc_kb "$1" RssAnon)" \
		"$(awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo '?')"
}
# wait until no client backend is left (their CPU would count as children's)
wait_no_clients() {
	local pid
	for _ in $(seq 1 100); do
		local busy=0
		for pid in $(pgrep -P "$POSTMASTER" || true); do
			if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '\[local\]'; then
				busy=1
			fi
		done
		[ "$busy" = 0 ] && return 0
		sleep 0.1
	done
	pgs_die "client backends did not go away"
}

if [ "$DO_IDLE" = 1 ]; then
	pgs_say "worker at rest: naptime $NAPTIME s, $SETS sets with nothing due, $IDLE s window"
	q -d postgres -c "ALTER SYSTEM SET pgscale.enabled = on" -c "SELECT pg_reload_conf()" >/dev/null
	# the first cycle runs at once; start measuring after it
	for _ in $(seq 1 600); do
		[ "$(q -c "SELECT coalesce(max(cycles), 0) FROM pgscale_worker_status() WHERE NOT running")" -ge 1 ] && break
		sleep 0.1
	done
	LAUNCHER=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgscale launcher'")
	BASELINE=$(q -c "SELECT pid FROM pg_stat_activity
	                 WHERE backend_type = 'logical replication launcher'")
	POSTMASTER=$(head -n 1 "$PGDATA/postmaster.pid")
	CYCLES0=$(q -c "SELECT cycles FROM pgscale_worker_status() WHERE database = 'bench'")
	LAST=$(q -c "SELECT round(extract(epoch FROM last_end - last_start) * 1000)
	             FROM pgscale_worker_status() WHERE database = 'bench'")
	wait_no_clients
	TCK=$(getconf CLK_TCK)
	read -r L0 _ <<<"$(proc_cpu "$LAUNCHER")"
	read -r _ P0 <<<"$(proc_cpu "$POSTMASTER")"
	read -r RSS0 ANON0 PSS0 <<<"$(proc_mem "$LAUNCHER")"
	T0=$(date +%s.%N)
	sleep "$IDLE"
	read -r L1 _ <<<"$(proc_cpu "$LAUNCHER")"
	read -r _ P1 <<<"$(proc_cpu "$POSTMASTER")"
	read -r RSS1 ANON1 PSS1 <<<"$(proc_mem "$LAUNCHER")"
	read -r BRSS BANON BPSS <<<"$(proc_mem "$BASELINE")"
	T1=$(date +%s.%N)
	CYCLES1=$(q -c "SELECT cycles FROM pgscale_worker_status() WHERE database = 'bench'")

	ELAPSED=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }')
	SCALE=$(awk -v e="$ELAPSED" 'BEGIN { printf "%.4f", 600 / e }')
	L_CPU=$(awk -v a="$L0" -v b="$L1" -v t="$TCK" 'BEGIN { printf "%.3f", (b - a) / t }')
	W_CPU=$(awk -v a="$P0" -v b="$P1" -v t="$TCK" 'BEGIN { printf "%.3f", (b - a) / t }')
	L_CPU10=$(awk -v c="$L_CPU" -v s="$SCALE" 'BEGIN { printf "%.3f", c * s }')
	W_CPU10=$(awk -v c="$W_CPU" -v s="$SCALE" 'BEGIN { printf "%.3f", c * s }')
	TOTAL10=$(awk -v a="$L_CPU10" -v b="$W_CPU10" 'BEGIN { printf "%.3f", a + b }')
	if [ "$QUICK" = 1 ] || [ "$IDLE" != 600 ]; then
		NOTE="measured over $ELAPSED s, extrapolated to 600 s (x$SCALE)"
	else
		NOTE="measured over $ELAPSED s"
	fi
	printf '%-44s %s\n' "window:" "$NOTE"
	printf '%-44s %s (one cycle of %s sets took %s ms)\n' "cycles in the window:" \
		"$((CYCLES1 - CYCLES0))" "$SETS" "$LAST"
	printf '%-44s %8.3f s  (%.3f s per 10 min)\n' "launcher CPU time:" "$L_CPU" "$L_CPU10"
	printf '%-44s %8.3f s  (%.3f s per 10 min)\n' "per-database workers' CPU time:" "$W_CPU" "$W_CPU10"
	MET=$(awk -v c="$TOTAL10" 'BEGIN { print (c < 1) ? "yes" : "NO" }')
	printf '%-44s %8.3f s  (target < 1 s: %s)\n' "launcher + workers, per 10 min:" "$TOTAL10" "$MET"
	MET=$(awk -v r="$RSS1" 'BEGIN { print (r < 10240) ? "yes" : "NO" }')
	printf '%-44s %s kB -> %s kB  (target < 10 MB: %s)\n' "launcher VmRSS, start -> end:" "$RSS0" "$RSS1" "$MET"
	printf '%-44s %s kB -> %s kB\n' "launcher RssAnon (private), start -> end:" "$ANON0" "$ANON1"
	printf '%-44s %s kB -> %s kB\n' "launcher Pss (proportional), start -> end:" "$PSS0" "$PSS1"
	printf '%-44s VmRSS %s kB, RssAnon %s kB, Pss %s kB\n' \
		"baseline, logical replication launcher:" "$BRSS" "$BANON" "$BPSS"
fi
