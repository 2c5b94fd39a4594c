#!/bin/bash
# test/bench_pacing.sh: what pgscale.max_replica_lag costs and buys: the
# purge time of CALL pgscale_cleanup_proc() and the peak replay lag of a
# streaming standby, with pacing off and with max_replica_lag = '1s'.
#
#     test/bench_pacing.sh               # as root on Debian 12, ~7 minutes
#     RUNS=5 test/bench_pacing.sh        # more repetitions
#     LIMIT=2s ...                       # another max_replica_lag
#     MEMBERS=2250 ...                   # the seed's size
#     SLOW_STANDBY=0 ...                 # a standby at full speed
#     test/bench_pacing.sh --pg 17       # PostgreSQL 17 (trixie chroot)
#
# It builds pgscale into a staging directory (PGS_DESTDIR, a temporary one
# by default), starts a throwaway primary that loads it from there and a
# streaming standby of it on this machine (pg_basebackup -R, its own
# directory and socket; wal_receiver_status_interval 1 s), and builds
# metrics_aiusagedaily as test/bench_cleanup.sh does: one row per member per
# day, 24 months ending today, half of the rows older than the 365-day
# retention, primary key id, unique (member_id, date), index (team_id,
# date); with ${MEMBERS:-6750} members, three times the seed's 2,250 (4.9
# million rows instead of 1.6): the seed's purge is over in 0.7 s here,
# before a standby can be a second behind.
#
# Each run, for each mode (pacing off: max_replica_lag = 0; paced:
# max_replica_lag = LIMIT), makes a fresh copy of the table, waits until
# the standby has replayed it, runs CHECKPOINT on both, then times
# CALL pgscale_cleanup_proc(relation => ..., batch_size => BATCH) (psql's
# \timing) while a second session samples the standby's replay lag as the
# primary sees it (max(replay_lag) of pg_stat_replication) every 100 ms,
# from the start of the call until the standby has replayed all of it.  It
# prints the median purge time and median peak lag of each mode and their
# ratios.  Targets (issue 16): paced peak lag within 2x the limit, paced
# purge no more than 3x as long as unpaced.
#
# Both servers share this machine's two cores and disk, and a standby there
# replays as fast as the primary writes: it never falls behind, and pacing
# has nothing to do (SLOW_STANDBY=0 shows it: the two times then differ by
# the cost of measuring, one query on pg_stat_replication per batch).  A
# real standby is often slower (smaller machine, busy with reads, remote
# disk).  So while a purge runs, the standby's startup process (the one
# that replays) is stopped SLOW_STANDBY percent of the time (default 67,
# SIGSTOP and SIGCONT in cycles of 40 ms), which cuts its replay speed to
# about a third: unpaced, its lag grows all through the purge; paced, the
# purge cannot finish sooner than the standby can replay it, about three
# times the unpaced time less the lag allowed.  (At 50%, the 1.6 million
# row purge is over before the unpaced lag reaches 1 s.)
set -euo pipefail

# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pgs_pg_option --env RUNS --env MEMBERS --env BATCH --env LIMIT --env SLOW_STANDBY -- "$@"
[ ${#PGS_ARGS[@]} -eq 0 ] || pgs_die "unknown argument ${PGS_ARGS[0]} (options: --pg 15|17|18)"

RUNS=${RUNS:-3}
MEMBERS=${MEMBERS:-6750}
BATCH=${BATCH:-10000}
LIMIT=${LIMIT:-1s}
SLOW_STANDBY=${SLOW_STANDBY:-67}

pgs_install_deps
pgs_stage_destdir
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-bench.XXXXXX")
chmod 755 "$WORK"
pgs_at_exit "rm -rf $(printf %q "$WORK")"

pgs_build_staged

pgs_say "starting a throwaway primary"
pgs_cluster_start fsync=on shared_buffers=1GB max_wal_size=20GB min_wal_size=1GB \
	checkpoint_timeout=1h autovacuum=off jit=off maintenance_work_mem=512MB \
	shared_preload_libraries=pgscale wal_level=replica max_wal_senders=4
PRIMARY_DIR=$PGS_CLUSTER_DIR
export PGDATABASE=bench
export PGOPTIONS="-c client_min_messages=warning"

pgs_say "starting a streaming standby"
STANDBY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-standby.XXXXXX")
chmod 755 "$STANDBY_DIR"
chown postgres:postgres "$STANDBY_DIR" 2>/dev/null || true
pgs_at_exit "pgs_cluster_stop $(printf %q "$STANDBY_DIR")"
STANDBY_PORT=$(pgs_free_port)
pgs_as_postgres "$PGS_BINDIR/pg_basebackup" -h "$PRIMARY_DIR" -p "$PGPORT" -U postgres \
	-D "$STANDBY_DIR/data" -R -X stream -c fast
{
	echo "unix_socket_directories = '$STANDBY_DIR'"
	echo "port = $STANDBY_PORT"
	echo "hot_standby = on"
	echo "wal_receiver_status_interval = '1s'"
} >>"$STANDBY_DIR/data/postgresql.conf"
pgs_as_postgres "$PGS_BINDIR/pg_ctl" -D "$STANDBY_DIR/data" -l "$STANDBY_DIR/server.log" \
	-w -t 120 start >/dev/null

q() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}
qs() {
	q -o /dev/null "$@"
}
qstandby() {
	psql -X -q -v ON_ERROR_STOP=1 -h "$STANDBY_DIR" -p "$STANDBY_PORT" "$@"
}

qs -d postgres -c "CREATE DATABASE bench"
pgs_say "loading metrics_aiusagedaily: $MEMBERS members x 24 months"
qs -v members="$MEMBERS" -v bench_src="$PGS_ROOT/test/data/bench_src.sql" <<'SQL'
CREATE EXTENSION pgscale;
\i :bench_src

CREATE FUNCTION bench_make_plain(tbl text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', tbl);
    EXECUTE format('CREATE TABLE %I (LIKE bench_src)', tbl);
    EXECUTE format('INSERT INTO %I SELECT * FROM bench_src', tbl);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', tbl);
    EXECUTE format('ALTER TABLE %I ADD UNIQUE (member_id, date)', tbl);
    EXECUTE format('CREATE INDEX ON %I (team_id, date)', tbl);
    PERFORM pgscale_set_retention(tbl::regclass, '365 days', 'date');
END $$;
SQL
q -At -c "SELECT format('%s rows, %s expired, heap %s', count(*),
                        count(*) FILTER (WHERE date < current_date - 365),
                        pg_size_pretty(pg_relation_size('bench_src'))) FROM bench_src"

# wait until the standby has replayed everything the primary wrote
catch_up() {
	local lsn i
	lsn=$(q -At -c "SELECT pg_current_wal_lsn()")
	for i in $(seq 1 6000); do
		[ "$(qstandby -d bench -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && return 0
		sleep 0.1
	done
	pgs_die "the standby did not catch up in 10 minutes"
}

set_limit() {
	qs -c "ALTER SYSTEM SET pgscale.max_replica_lag = '$1'" -c "SELECT pg_reload_conf()"
	local i
	for i in $(seq 1 100); do
		[ "$(q -At -c "SHOW pgscale.max_replica_lag")" = "$1" ] && return 0
		sleep 0.1
	done
	pgs_die "pgscale.max_replica_lag = '$1' did not take"
}

# slow_standby: stop the standby's startup process SLOW_STANDBY percent of
# the time, in the background, until stop_slow_standby
SLOW_PID=
STARTUP_PID=
slow_standby() {
	[ "$SLOW_STANDBY" -gt 0 ] || return 0
	STARTUP_PID=$(qstandby -d bench -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'")
	local stop run
	stop=$(awk -v p="$SLOW_STANDBY" 'BEGIN { printf "%.3f", 0.02 * p / 50 }')
	run=$(awk -v p="$SLOW_STANDBY" 'BEGIN { printf "%.3f", 0.02 * (100 - p) / 50 }')
	(
		trap 'kill -CONT $STARTUP_PID 2>/dev/null; exit 0' TERM
		while :; do
			kill -STOP "$STARTUP_PID" 2>/dev/null || exit 0
			sleep "$stop"
			kill -CONT "$STARTUP_PID" 2>/dev/null || exit 0
			sleep "$run"
		done
	) &
	SLOW_PID=$!
}
stop_slow_standby() {
	[ -n "$SLOW_PID" ] || return 0
	kill -TERM "$SLOW_PID" 2>/dev/null || true
	wait "$SLOW_PID" 2>/dev/null || true
	kill -CONT "$STARTUP_PID" 2>/dev/null || true
	SLOW_PID=
}
pgs_at_exit "stop_slow_standby"

declare -A TIMES PEAKS PAUSED

# one_run MODE LIMIT: time the purge of a fresh copy with that limit
one_run() {
	local mode=$1 limit=$2 tbl=t_$1 sampler t peak paused
	set_limit "$limit"
	qs -c "SELECT bench_make_plain('$tbl')" -c "VACUUM ANALYZE $tbl"
	catch_up
	qs -c "CHECKPOINT"
	qstandby -d bench -o /dev/null -c "CHECKPOINT"
	# the sampler: max(replay_lag) in seconds every 100 ms, until killed
	printf "SELECT coalesce(extract(epoch FROM max(replay_lag)), 0) FROM pg_stat_replication \\\\watch 0.1\n" |
		psql -X -At -f - >"$WORK/lag.$mode" 2>/dev/null &
	sampler=$!
	slow_standby
	t=$(q -o /dev/null -c '\timing on' \
		-c "CALL pgscale_cleanup_proc(relation => '$tbl', batch_size => $BATCH)" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
	catch_up
	stop_slow_standby
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	peak=$(grep -E '^[0-9.]+$' "$WORK/lag.$mode" | sort -n | tail -n 1)
	paused=$(q -At -c "SELECT coalesce(substring(detail FROM 'paused ([0-9.]+) s in all'), '0')
	                   FROM pgscale_log WHERE action = 'delete' AND object_name = 'public.$tbl'
	                   ORDER BY id DESC LIMIT 1")
	[ "$(q -At -c "SELECT count(*) FROM $tbl WHERE date < current_date - 365")" = 0 ] ||
		pgs_die "$mode: expired rows left"
	TIMES[$mode]+="$t "
	PEAKS[$mode]+="${peak:-0} "
	PAUSED[$mode]+="$paused "
	qs -c "DROP TABLE $tbl"
	printf '%-8s purge %10s ms, peak replay lag %6s s, paused %6s s\n' "$mode:" "$t" "${peak:-0}" "$paused"
}

for run in $(seq 1 "$RUNS"); do
	pgs_say "run $run of $RUNS"
	one_run off 0
	one_run paced "$LIMIT"
done

pgs_say "medians of $RUNS runs (PostgreSQL $PGS_PGVERSION, batch_size $BATCH, max_replica_lag $LIMIT, standby stopped $SLOW_STANDBY% of the time)"
limit_s=$(q -At -c "SELECT extract(epoch FROM interval '$LIMIT')")
for mode in off paced; do
	printf '%-8s purge %10s ms, peak replay lag %6s s, paused %6s s\n' "$mode:" \
		"$(tr ' ' '\n' <<<"${TIMES[$mode]}" | grep . | pgs_median)" \
		"$(tr ' ' '\n' <<<"${PEAKS[$mode]}" | grep . | pgs_median)" \
		"$(tr ' ' '\n' <<<"${PAUSED[$mode]}" | grep . | pgs_median)"
done
t_off=$(tr ' ' '\n' <<<"${TIMES[off]}" | grep . | pgs_median)
t_paced=$(tr ' ' '\n' <<<"${TIMES[paced]}" | grep . | pgs_median)
p_paced=$(tr ' ' '\n' <<<"${PEAKS[paced]}" | grep . | pgs_median)
awk -v a="$t_paced" -v b="$t_off" -v p="$p_paced" -v l="$limit_s" 'BEGIN {
	printf "paced purge / unpaced: %.2fx (target <= 3x)\n", a / b
	printf "paced peak lag / limit: %.2fx (target <= 2x)\n", p / l
}'
