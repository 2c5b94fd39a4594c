#!/bin/bash
# test/bench_cleanup.sh: how long pgscale's retention cleanup takes against
# what users do today, on identical copies of a seed-like table, in one run.
#
#     test/bench_cleanup.sh              # as root on Debian 12, ~8 minutes
#     RUNS=5 test/bench_cleanup.sh       # more repetitions
#     DJANGO_RUNS=3 ...                  # repeat the Django-style loop too
#     test/bench_cleanup.sh --pg 17      # PostgreSQL 17, pg_partman 5.2 and
#                                        # TimescaleDB 2.19 (trixie chroot)
#     STALL_RATE=0 ...                   # no concurrent inserts
#
# It builds pgscale into a staging directory (PGS_DESTDIR, a temporary one by
# default, so the system's installation is never touched), starts a throwaway
# cluster that loads pgscale from there, and builds metrics_aiusagedaily as in
# the seed: one row per member per day, ${MEMBERS:-2250} members in 50 teams,
# 24 months ending today (about 1.64 million rows), stored in date order,
# primary key id, unique (member_id, date), index (team_id, date).
#
# Each run makes a fresh copy of that table for each method (same rows, same
# physical order, same indexes), runs VACUUM ANALYZE and CHECKPOINT on it,
# then times one method on it (psql's \timing, client side):
#   plain table, retention 365 days (date < current_date - 365 is expired)
#     delete   one DELETE ... WHERE date < current_date - 365
#     django   the loop Django-style cleanups run: DELETE ... WHERE id IN
#              (SELECT id ... WHERE date < cutoff LIMIT 10000), committing
#              each batch, until a batch deletes nothing (a procedure)
#     pgscale  CALL pgscale_cleanup_proc(relation => ...) with a 365-day policy
#   monthly partitioned copy (made by pg_partman's create_parent, native,
#   monthly, with its default partition; the same partitions for all; 4.7:
#   p_type 'native', p_interval 'monthly'; 5.x: p_interval '1 month')
#     partman  pg_partman (4.7 on 15, 5.2 on 17) SELECT
#              partman.run_maintenance() with retention '365 days',
#              retention_keep_table false
#     partman_proc  the same with CALL partman.run_maintenance_proc(), which
#              commits after each partition set (one here)
#     pgscale  CALL pgscale_cleanup_proc(relation => ...) with a 365-day policy
#              (the default partition makes it drop under ACCESS EXCLUSIVE)
#     pgscale_detach  the same on the copy without its (empty) default
#              partition: DETACH PARTITION CONCURRENTLY, the detached months
#              dropped together at the end
#     floor    the least work any exact method must do, in one transaction:
#              DROP TABLE of the 12 expired partitions, one DELETE of the
#              expired rows of the month straddling the cutoff and of the
#              default partition (function bench_exact_floor)
#     drops    the DROP TABLEs alone, in one transaction
#   hypertable (TimescaleDB, where it is installed: 17), the same rows and
#   indexes, chunk_time_interval '1 month' (which TimescaleDB takes as 30
#   days: its chunks do not start on the 1st)
#     timescale  SELECT drop_chunks(..., older_than => current_date - 365),
#              the Apache edition's retention (its policy job needs the
#              Timescale license, which Debian's build leaves out)
# and prints, per method, the median time over the runs, the expired rows
# left afterwards, and the ratios.  The Django-style loop is 20-40 times
# slower than the rest, so by default it runs in the first run only
# (DJANGO_RUNS=1): its ratio needs no median to be read.  About 6 minutes on
# a quiet 2-core machine, 8 under a load average of 6.
#
# Longest insert stall: while each method runs, pgbench inserts current
# rows (new members, today's date) into the table under test, one client at
# STALL_RATE inserts a second (default 200; 0: none), each logged with its
# latency (pgbench --log); the longest latency of the inserts that were in
# flight while the method ran is that method's stall.  pgbench starts after
# the VACUUM and CHECKPOINT and is stopped 1.5 s after the method, so its
# buffered log has long been written out past the stall; the timings are
# taken with it running, the same load for every method.
#
# Longest transaction of pgscale_cleanup_proc: measured in one more, untimed
# pass (the watcher costs CPU on a 2-core machine, so it never runs during a
# timed run).  A second session polls pg_stat_activity for the procedure's
# backend every ~5 ms, each poll in a transaction of its own so the activity
# snapshot is fresh; inside a procedure every COMMIT starts a transaction
# with a new xact_start, so the longest (poll time - xact_start) seen is the
# longest transaction, give or take one polling interval.  Statement logging
# cannot give this: the server logs the CALL as one statement.
#
# The machine is shared and small: read the medians and ratios, not single
# timings.  Targets (issue 2): pgscale <= 1.3x the single DELETE on the
# plain table, with no transaction over 1 s; pgscale <= 0.7x pg_partman on
# the partitioned table, with 0 expired rows left.  The floor and drops
# lines say how close to the 0.7x target any exact method could come.
# Issue 17: with DETACH PARTITION CONCURRENTLY, the longest insert stall
# under 20 ms and the time no more than 1.0x pg_partman's procedure.
set -euo pipefail

# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pgs_pg_option --include "postgresql-{v}-timescaledb" --env RUNS --env DJANGO_RUNS \
	--env MEMBERS --env BATCH --env STALL_RATE --env ONLY -- "$@"
[ ${#PGS_ARGS[@]} -eq 0 ] || pgs_die "unknown argument ${PGS_ARGS[0]} (options: --pg 15|17|18)"

RUNS=${RUNS:-3}
DJANGO_RUNS=${DJANGO_RUNS:-1}
MEMBERS=${MEMBERS:-2250}
BATCH=${BATCH:-10000}
STALL_RATE=${STALL_RATE:-200}
ONLY=${ONLY:-}

pgs_install_deps
pgs_stage_destdir
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-bench.XXXXXX")
pgs_at_exit "rm -rf $(printf %q "$WORK")"

# TimescaleDB where its package is installed (17: postgresql-17-timescaledb)
TIMESCALE=
PRELOAD=()
if [ -f "$("$PG_CONFIG" --sharedir)/extension/timescaledb.control" ]; then
	TIMESCALE=1
	PRELOAD=(shared_preload_libraries=timescaledb timescaledb.telemetry_level=off)
fi

pgs_build_staged

# Production-like durability (fsync on), room for the whole data set in
# shared_buffers, no checkpoint or autovacuum in the middle of a timing,
# no synchronized scans (every copy gets its rows in the same order).
pgs_say "starting a throwaway cluster"
pgs_cluster_start fsync=on shared_buffers=2GB max_wal_size=20GB min_wal_size=1GB \
	checkpoint_timeout=1h autovacuum=off synchronize_seqscans=off jit=off \
	maintenance_work_mem=512MB work_mem=64MB "${PRELOAD[@]}"
export PGDATABASE=bench
# pgscale's summary NOTICEs and the DROP ... IF EXISTS notices are not wanted
export PGOPTIONS="-c client_min_messages=warning"

# q: psql, stopping on the first error; qs: the same, its results discarded
q() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}
qs() {
	q -o /dev/null "$@"
}

qs -d postgres -c "CREATE DATABASE bench"

pgs_say "loading metrics_aiusagedaily: $MEMBERS members x 24 months"
[ -n "$TIMESCALE" ] && qs -c "CREATE EXTENSION timescaledb"
qs -v members="$MEMBERS" -v bench_src="$PGS_ROOT/test/data/bench_src.sql" <<'SQL'
CREATE EXTENSION pgscale;
CREATE SCHEMA partman;
CREATE EXTENSION pg_partman SCHEMA partman;

-- The seed's table, without its indexes: the source every copy is made from.
\i :bench_src

-- A plain copy, in the source's physical order, with the seed's indexes.
CREATE FUNCTION bench_make_plain(tbl text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', tbl);
    EXECUTE format('CREATE TABLE %I (LIKE bench_src)', tbl);
    EXECUTE format('INSERT INTO %I SELECT * FROM bench_src', tbl);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', tbl);
    EXECUTE format('ALTER TABLE %I ADD UNIQUE (member_id, date)', tbl);
    EXECUTE format('CREATE INDEX ON %I (team_id, date)', tbl);
END $$;

-- A plain copy that another table references the way Django makes a
-- ForeignKey (DEFERRABLE INITIALLY DEFERRED, no ON DELETE action, an index
-- on the referencing column): one referencing row per 10 expired rows.
CREATE FUNCTION bench_make_referenced(tbl text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', tbl || '_ref');
    PERFORM bench_make_plain(tbl);
    EXECUTE format('CREATE TABLE %I (id bigserial PRIMARY KEY, metric_id bigint NOT NULL)',
                   tbl || '_ref');
    EXECUTE format('INSERT INTO %I (metric_id) SELECT id FROM %I'
                   ' WHERE date < current_date - 365 AND id %% 10 = 0', tbl || '_ref', tbl);
    EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (metric_id) REFERENCES %I (id)'
                   ' DEFERRABLE INITIALLY DEFERRED', tbl || '_ref', tbl);
    EXECUTE format('CREATE INDEX ON %I (metric_id)', tbl || '_ref');
    EXECUTE format('ANALYZE %I', tbl || '_ref');
END $$;

-- A monthly partitioned copy made by pg_partman (default partition, 4
-- months premade), the same indexes (the primary key has to include date).
CREATE FUNCTION bench_make_part(tbl text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', tbl);
    DELETE FROM partman.part_config WHERE parent_table = 'public.' || tbl;
    EXECUTE format('DROP TABLE IF EXISTS partman.%I', 'template_public_' || tbl);
    EXECUTE format('CREATE TABLE %I (LIKE bench_src) PARTITION BY RANGE (date)', tbl);
    IF (SELECT split_part(extversion, '.', 1)::integer FROM pg_extension
         WHERE extname = 'pg_partman') >= 5 THEN
        -- 5.x: native only, so no p_type; intervals as intervals
        PERFORM partman.create_parent(p_parent_table => 'public.' || tbl, p_control => 'date',
                                      p_interval => '1 month', p_premake => 4,
                                      p_start_partition => (SELECT min(date) FROM bench_src)::text);
    ELSE
        PERFORM partman.create_parent(p_parent_table => 'public.' || tbl, p_control => 'date',
                                      p_type => 'native', p_interval => 'monthly', p_premake => 4,
                                      p_start_partition => (SELECT min(date) FROM bench_src)::text);
    END IF;
    EXECUTE format('INSERT INTO %I SELECT * FROM bench_src', tbl);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id, date)', tbl);
    EXECUTE format('ALTER TABLE %I ADD UNIQUE (member_id, date)', tbl);
    EXECUTE format('CREATE INDEX ON %I (team_id, date)', tbl);
END $$;

-- A hypertable copy (TimescaleDB): chunks of '1 month', the same indexes
-- and none of TimescaleDB's default ones.
CREATE FUNCTION bench_make_hyper(tbl text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', tbl);
    EXECUTE format('CREATE TABLE %I (LIKE bench_src)', tbl);
    PERFORM create_hypertable(tbl::regclass, 'date', chunk_time_interval => interval '1 month',
                              create_default_indexes => false);
    EXECUTE format('INSERT INTO %I SELECT * FROM bench_src', tbl);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id, date)', tbl);
    EXECUTE format('ALTER TABLE %I ADD UNIQUE (member_id, date)', tbl);
    EXECUTE format('CREATE INDEX ON %I (team_id, date)', tbl);
END $$;

-- The least work any exact cleanup of a partitioned copy has to do: drop
-- the partitions that end at or before the cutoff and delete the expired
-- rows of the ones that start before it (the month straddling the cutoff,
-- the default partition), in one transaction, with no lock timeout, no
-- batching, no log and no per-partition commit.  Its time is a floor for
-- pgscale and for any other exact method on the same copy.  with_trim =>
-- false skips the deletes: what is left is the work pg_partman does too.
CREATE FUNCTION bench_exact_floor(tbl regclass, cutoff date, with_trim boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.oid::regclass AS child,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']*)''\)')::date AS lower,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']*)''\)')::date AS upper
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = tbl
    LOOP
        IF part.upper <= cutoff THEN
            EXECUTE format('DROP TABLE %s', part.child);
        ELSIF with_trim AND (part.lower IS NULL OR part.lower < cutoff) THEN
            EXECUTE format('DELETE FROM %s WHERE date < $1', part.child) USING cutoff;
        END IF;
    END LOOP;
END $$;

-- The Django-style loop, committing every batch.
CREATE PROCEDURE django_cleanup(tbl regclass, cutoff date, batch integer) LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    LOOP
        EXECUTE format('DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE date < $1 LIMIT $2)', tbl, tbl)
          USING cutoff, batch;
        GET DIAGNOSTICS n = ROW_COUNT;
        COMMIT;
        EXIT WHEN n = 0;
    END LOOP;
END $$;

-- The transaction watcher (see the head of this script).
CREATE TABLE bench_watch_result (app text, longest interval, polls integer, transactions integer);
CREATE PROCEDURE bench_watch(app text, max_wait interval) LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
    seen boolean := false;
    xs timestamptz;
    last_xs timestamptz;
    longest interval := '0';
    polls integer := 0;
    xacts integer := 0;
BEGIN
    LOOP
        SELECT xact_start INTO xs FROM pg_stat_activity
         WHERE application_name = app AND state = 'active' AND xact_start IS NOT NULL
         LIMIT 1;
        IF xs IS NOT NULL THEN
            seen := true;
            polls := polls + 1;
            longest := greatest(longest, clock_timestamp() - xs);
            IF last_xs IS DISTINCT FROM xs THEN
                xacts := xacts + 1;
                last_xs := xs;
            END IF;
        ELSIF seen THEN
            EXIT;
        END IF;
        EXIT WHEN clock_timestamp() - started > max_wait;
        COMMIT;
        PERFORM pg_sleep(0.005);
    END LOOP;
    INSERT INTO bench_watch_result VALUES (app, longest, polls, xacts);
END $$;
SQL
q -At -c "SELECT format('%s rows, %s to %s, heap %s', count(*), min(date), max(date),
                        pg_size_pretty(pg_relation_size('bench_src'))) FROM bench_src"
q -At -c "SELECT 'expired (date < current_date - 365): ' || count(*) FROM bench_src WHERE date < current_date - 365"

now() { date +%s.%N; }

# longest latency (ms) of the inserts logged under a pgbench log prefix
# that were in flight in [from, to] (epoch seconds), and their count
stall_ms() { # logprefix from to
	cat "$1".* 2>/dev/null | awk -v from="$2" -v to="$3" '
		{ end = $5 + $6 / 1e6; start = end - $3 / 1e6
		  if (end >= from && start <= to) { n++; if ($3 > max) max = $3 } }
		END { printf "%.1f %d\n", max / 1000, n }'
}

# time_ms TABLE SQL: VACUUM ANALYZE and CHECKPOINT, then run SQL, with
# pgbench inserting into TABLE unless STALL_RATE is 0; sets T (ms, psql's
# \timing) and STALL ("ms inserts", or "- 0").
time_ms() {
	local tbl=$1 sql=$2 pid='' t0 t1
	q -c "VACUUM ANALYZE $tbl" -c "CHECKPOINT"
	STALL="- 0"
	if [ "$STALL_RATE" != 0 ]; then
		rm -f "$WORK/log".*
		cat >"$WORK/insert.sql" <<EOS
\\set k random(1, 1000000000)
INSERT INTO $tbl (id, member_id, team_id, date, source, suggestions_shown, suggestions_accepted,
                  lines_suggested, lines_accepted, chat_messages, active_minutes, created_at)
VALUES (10000000000 + :k, 100000 + :k, 1 + :k % 50, current_date, 'bench', 1, 1, 1, 1, 1, 1, now())
ON CONFLICT DO NOTHING;
EOS
		"$PGS_BINDIR/pgbench" -n -c 1 -R "$STALL_RATE" -T 3600 -f "$WORK/insert.sql" --log \
			--log-prefix="$WORK/log" >"$WORK/pgbench.out" 2>&1 &
		pid=$!
		sleep 1
	fi
	t0=$(now)
	T=$(q -o /dev/null -c '\timing on' -c "$sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
	t1=$(now)
	if [ -n "$pid" ]; then
		sleep 1.5
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		STALL=$(stall_ms "$WORK/log" "$t0" "$t1")
	fi
}

expired_left() {
	q -At -c "SELECT count(*) FROM $1 WHERE date < current_date - 365"
}

declare -A TIMES LEFT STALLS

# measure METHOD TABLE LABEL SQL: time SQL on TABLE, record the time, the
# longest insert stall and the expired rows left under METHOD, drop TABLE.
measure() {
	local method=$1 tbl=$2 label=$3 sql=$4 stall n
	time_ms "$tbl" "$sql"
	read -r stall n <<<"$STALL"
	TIMES[$method]+="$T "
	STALLS[$method]+="$stall "
	LEFT[$method]=$(expired_left "$tbl")
	qs -c "DROP TABLE IF EXISTS ${tbl}_ref" -c "DROP TABLE $tbl"
	printf '%-26s%10s ms, longest insert %8s ms (%s inserts)\n' "$label:" "$T" "$stall" "$n"
}

# part_copy TABLE [psql options]: a partitioned copy made by pg_partman,
# then forgotten by it; the options run afterwards.
part_copy() {
	local tbl=$1
	shift
	qs -c "SELECT bench_make_part('$tbl')" \
		-c "DELETE FROM partman.part_config WHERE parent_table = 'public.$tbl'" "$@"
}

# want METHOD: whether METHOD is timed in this run (all of them unless ONLY
# lists some)
want() {
	[ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]
}

PARTMAN_VERSION=$(q -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'")
METHODS=(delete django pgscale cascade_hand cascade partman partman_proc pgscale_part pgscale_detach floor drops)
if [ -n "$TIMESCALE" ]; then
	METHODS+=(timescale)
	TIMESCALE_VERSION=$(q -At -c "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
fi

for run in $(seq 1 "$RUNS"); do
	pgs_say "run $run of $RUNS"
	if want delete; then
		qs -c "SELECT bench_make_plain('t_delete')"
		measure delete t_delete "single DELETE" "DELETE FROM t_delete WHERE date < current_date - 365"
	fi

	if [ "$run" -le "$DJANGO_RUNS" ] && want django; then
		qs -c "SELECT bench_make_plain('t_django')"
		measure django t_django "Django-style loop" "CALL django_cleanup('t_django', current_date - 365, $BATCH)"
	fi

	if want pgscale; then
		qs -c "SELECT bench_make_plain('t_pgscale')" \
			-c "SELECT pgscale_set_retention('t_pgscale', '365 days', 'date')"
		measure pgscale t_pgscale "pgscale (plain)" \
			"CALL pgscale_cleanup_proc(relation => 't_pgscale', batch_size => $BATCH)"
	fi

	# referenced by a Django-style foreign key: the hand-written pair of
	# DELETEs (referencing rows, then referenced) in one transaction,
	# against on_referenced => 'cascade'
	if want cascade_hand; then
		qs -c "SELECT bench_make_referenced('t_cascade_hand')"
		measure cascade_hand t_cascade_hand "cascade: two DELETEs" \
			"BEGIN; DELETE FROM t_cascade_hand_ref WHERE metric_id IN
			   (SELECT id FROM t_cascade_hand WHERE date < current_date - 365);
			 DELETE FROM t_cascade_hand WHERE date < current_date - 365; COMMIT;"
	fi
	if want cascade; then
		qs -c "SELECT bench_make_referenced('t_cascade')" \
			-c "SELECT pgscale_set_retention('t_cascade', '365 days', 'date', on_referenced => 'cascade')"
		measure cascade t_cascade "cascade: pgscale" \
			"CALL pgscale_cleanup_proc(relation => 't_cascade', batch_size => $BATCH)"
	fi

	if want partman; then
		qs -c "SELECT bench_make_part('p_partman')" \
			-c "UPDATE partman.part_config SET retention = '365 days', retention_keep_table = false,
			        retention_keep_index = false WHERE parent_table = 'public.p_partman'"
		measure partman p_partman "pg_partman" "SELECT partman.run_maintenance()"
		qs -c "DELETE FROM partman.part_config WHERE parent_table = 'public.p_partman'"
	fi

	if want partman_proc; then
		qs -c "SELECT bench_make_part('p_partproc')" \
			-c "UPDATE partman.part_config SET retention = '365 days', retention_keep_table = false,
			        retention_keep_index = false WHERE parent_table = 'public.p_partproc'"
		measure partman_proc p_partproc "pg_partman (procedure)" "CALL partman.run_maintenance_proc()"
		qs -c "DELETE FROM partman.part_config WHERE parent_table = 'public.p_partproc'"
	fi

	# The other partitioned copies are made by pg_partman too, which then
	# forgets them.
	if want pgscale_part; then
		part_copy p_pgscale -c "SELECT pgscale_set_retention('p_pgscale', '365 days')"
		measure pgscale_part p_pgscale "pgscale (partitioned)" \
			"CALL pgscale_cleanup_proc(relation => 'p_pgscale', batch_size => $BATCH)"
	fi

	# The same copy without its default partition (empty: the data ends
	# today, the premade months are empty too), which DETACH PARTITION
	# CONCURRENTLY needs: the procedure detaches the expired months
	# concurrently and drops them together at the end (issue 17).
	if want pgscale_detach; then
		part_copy p_detach -c "DO \$\$ BEGIN
		        IF EXISTS (SELECT FROM p_detach_default) THEN RAISE 'p_detach_default holds rows'; END IF;
		    END \$\$" -c "DROP TABLE p_detach_default" \
			-c "SELECT pgscale_set_retention('p_detach', '365 days')"
		measure pgscale_detach p_detach "pgscale (detach)" \
			"CALL pgscale_cleanup_proc(relation => 'p_detach', batch_size => $BATCH)"
	fi

	if want floor; then
		part_copy p_floor
		measure floor p_floor "least exact work" "SELECT bench_exact_floor('p_floor', current_date - 365)"
	fi

	if want drops; then
		part_copy p_drops
		measure drops p_drops "drops alone" \
			"SELECT bench_exact_floor('p_drops', current_date - 365, with_trim => false)"
	fi

	if [ -n "$TIMESCALE" ] && want timescale; then
		qs -c "SET client_min_messages = error" -c "SELECT bench_make_hyper('h_timescale')"
		[ "$run" = 1 ] && q -At -c "SELECT format('hypertable: %s chunks, the oldest from %s to %s',
		                                          count(*), min(range_start), min(range_end))
		                              FROM timescaledb_information.chunks
		                             WHERE hypertable_name = 'h_timescale'"
		measure timescale h_timescale "TimescaleDB drop_chunks" \
			"SELECT count(*) FROM drop_chunks('h_timescale', older_than => current_date - 365)"
	fi
done

LONGEST_MS=-
if [ -z "$ONLY" ]; then
	pgs_say "longest transaction of pgscale_cleanup_proc (untimed pass, watcher on)"
	watch_proc() {
		local tbl=$1 app=bench_$1
		q -c "VACUUM ANALYZE $tbl" -c "CHECKPOINT"
		q -c "CALL bench_watch('$app', '300 s')" &
		local watcher=$!
		sleep 0.5
		PGAPPNAME=$app qs -c "CALL pgscale_cleanup_proc(relation => '$tbl', batch_size => $BATCH)"
		wait "$watcher"
		q -At -c "SELECT format('%s: longest transaction %s ms (%s transactions seen, %s polls)',
		                        '$tbl', round(extract(epoch FROM longest) * 1000), transactions, polls)
		            FROM bench_watch_result WHERE app = '$app'"
	}
	qs -c "SELECT bench_make_plain('t_watch')" -c "SELECT pgscale_set_retention('t_watch', '365 days', 'date')"
	LONGEST_PLAIN=$(watch_proc t_watch)
	echo "$LONGEST_PLAIN"
	part_copy p_watch -c "SELECT pgscale_set_retention('p_watch', '365 days')"
	LONGEST_PART=$(watch_proc p_watch)
	echo "$LONGEST_PART"
	qs -c "SELECT bench_make_referenced('c_watch')" \
		-c "SELECT pgscale_set_retention('c_watch', '365 days', 'date', on_referenced => 'cascade')"
	LONGEST_CASCADE=$(watch_proc c_watch)
	echo "$LONGEST_CASCADE"
	LONGEST_MS=$(q -At -c "SELECT round(extract(epoch FROM max(longest)) * 1000) FROM bench_watch_result")
fi

# Where pgscale's time goes on the copy without a default partition: its
# logged steps, summed over the runs (pgscale_log outlives the copies).
if want pgscale_detach; then
	pgs_say "pgscale's logged steps on the copies without a default partition, over $RUNS runs"
	q -c "SELECT action, count(*) / $RUNS AS per_run,
	             round(extract(epoch FROM sum(duration)) * 1000 / $RUNS, 1) AS ms_per_run
	        FROM pgscale.pgscale_log WHERE table_name LIKE '%p_detach%'
	       GROUP BY action ORDER BY ms_per_run DESC NULLS LAST"
fi

declare -A MED MEDSTALL
for m in "${METHODS[@]}"; do
	MED[$m]=$(echo "${TIMES[$m]:-}" | tr ' ' '\n' | { grep . || true; } | pgs_median)
	MEDSTALL[$m]=$(echo "${STALLS[$m]:-}" | tr ' ' '\n' | { grep . || true; } | { grep -v '^-$' || true; } | pgs_median)
	[ -n "${MEDSTALL[$m]}" ] || MEDSTALL[$m]=-
done
# ratio A B: A / B to two places, "-" when either was not measured
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else printf "-" }'
}
# target LABEL VALUE UNIT CONDITION [NOTE]: a line with VALUE and whether
# the awk CONDITION on v holds; nothing when VALUE was not measured
target() {
	[ -n "$2" ] && [ "$2" != - ] || return 0
	local met
	met=$(awk -v v="$2" "BEGIN { print ($4) ? \"met\" : \"NOT met\" }")
	printf '%-36s %s%s   target %s: %s%s\n' "$1" "$2" "$3" "$4" "$met" "${5:+   $5}"
}
# info LABEL VALUE [NOTE]: a line without a target, when VALUE was measured
info() {
	[ -n "$2" ] && [ "$2" != - ] || return 0
	printf '%-36s %s%s\n' "$1" "$2" "${3:+   $3}"
}

pgs_say "results: PostgreSQL $("$PG_CONFIG" --version | awk '{ print $2 }'), medians of $RUNS runs (Django-style loop: $DJANGO_RUNS), $(q -At -c "SELECT count(*) FROM bench_src") rows, retention 365 days, inserts at $STALL_RATE/s${ONLY:+, only: $ONLY}"
row() { # label method
	[ -n "${TIMES[$2]:-}" ] || return 0
	printf '%-52s %10s %12s %14s   %s\n' "$1" "${MED[$2]:--}" "${MEDSTALL[$2]:--}" "${LEFT[$2]:--}" "${TIMES[$2]:-}"
}
printf '%-52s %10s %12s %14s   %s\n' method "median ms" "stall ms" "expired left" "all runs (ms)"
row "plain: single DELETE" delete
row "plain: Django-style loop" django
row "plain: pgscale_cleanup_proc" pgscale
row "referenced: two DELETEs, 1 txn" cascade_hand
row "referenced: pgscale_cleanup_proc, cascade" cascade
row "partitioned: pg_partman $PARTMAN_VERSION run_maintenance()" partman
row "partitioned: pg_partman $PARTMAN_VERSION _proc()" partman_proc
row "partitioned: pgscale_cleanup_proc" pgscale_part
row "partitioned, no default: pgscale_cleanup_proc" pgscale_detach
row "partitioned: least exact work, 1 txn" floor
row "partitioned: the drops alone, 1 txn" drops
[ -n "$TIMESCALE" ] && row "hypertable: TimescaleDB $TIMESCALE_VERSION drop_chunks" timescale
echo "(stall: median over the runs of the longest insert latency seen while the method ran)"
echo
target "pgscale / single DELETE (plain):" "$(ratio "${MED[pgscale]}" "${MED[delete]}")" "" "v <= 1.3"
info "pgscale / Django-style loop:" "$(ratio "${MED[pgscale]}" "${MED[django]}")"
target "pgscale cascade / two DELETEs:" "$(ratio "${MED[cascade]}" "${MED[cascade_hand]}")" "" "v <= 1.5"
target "pgscale / pg_partman (partitioned):" "$(ratio "${MED[pgscale_part]}" "${MED[partman]}")" "" "v <= 0.7"
info "pgscale / pg_partman procedure:" "$(ratio "${MED[pgscale_part]}" "${MED[partman_proc]}")"
[ -n "$TIMESCALE" ] && info "pgscale / TimescaleDB drop_chunks:" "$(ratio "${MED[pgscale_part]}" "${MED[timescale]}")"
target "pgscale detach / pg_partman proc:" "$(ratio "${MED[pgscale_detach]}" "${MED[partman_proc]}")" "" "v <= 1.0"
target "longest insert stall, detach:" "${MEDSTALL[pgscale_detach]}" " ms" "v < 20" \
	"(pg_partman procedure: ${MEDSTALL[partman_proc]} ms, pg_partman: ${MEDSTALL[partman]} ms, pgscale with a default partition: ${MEDSTALL[pgscale_part]} ms)"
info "drops alone / pg_partman:" "$(ratio "${MED[drops]}" "${MED[partman]}")" "(dropping the same partitions, which every method must do)"
info "least exact work / pg_partman:" "$(ratio "${MED[floor]}" "${MED[partman]}")" "(no exact method can get below this ratio)"
info "least exact work / pg_partman proc:" "$(ratio "${MED[floor]}" "${MED[partman_proc]}")"
info "pgscale / least exact work:" "$(ratio "${MED[pgscale_part]}" "${MED[floor]}")" "(pgscale's cost of batching, logging and committing per partition)"
info "pgscale detach / least exact work:" "$(ratio "${MED[pgscale_detach]}" "${MED[floor]}")"
target "longest pgscale transaction:" "$LONGEST_MS" " ms" "v <= 1000"
for m in pgscale pgscale_part pgscale_detach; do
	[ -z "${LEFT[$m]:-}" ] || target "expired rows left, $m:" "${LEFT[$m]}" "" "v == 0"
done
