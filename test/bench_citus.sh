#!/bin/bash
# test/bench_citus.sh: exact retention on a Citus cluster, pgscale against
# Citus' own drop_old_time_partitions(), on identical copies of the
# seed-like table distributed by team_id and partitioned by month.
#
#     test/bench_citus.sh --pg 17        # in the trixie chroot, ~6 minutes
#     RUNS=5 test/bench_citus.sh --pg 17 # more repetitions
#     MEMBERS=500 ...                    # a smaller table
#
# Citus is not packaged for Debian and this script never fetches or builds
# it: it uses the citus.so of the PostgreSQL it runs on, and without one it
# says so and exits 0 ("skipped").  test/README.md ("The Citus test") says
# how to build Citus 13.2 into the chroot of PostgreSQL 17.
#
# It builds pgscale into a staging directory (PGS_DESTDIR, a temporary one
# by default), starts three throwaway clusters preloading citus and pgscale
# (a coordinator and two workers, unix sockets, fsync off, the workers added
# with citus_add_node(), citus.shard_count = 4), and loads on the coordinator
# the seed's metrics_aiusagedaily as a local source table (test/data/
# bench_src.sql: ${MEMBERS:-2250} members in 50 teams, one row per member and
# day for 24 months up to today, about 1.64 million rows).
#
# Each run makes two identical tables from it, bench_pgscale and
# bench_citus: primary key (team_id, id, date), an index on (team_id, date),
# monthly partitions over the 24 months made by
# pgscale_create_month_partitions() (no default partition), distributed by
# team_id with create_distributed_table() (4 shards a partition, on the
# two workers), the rows inserted, VACUUM ANALYZE, CHECKPOINT on every node.
# Then it times, with psql's \timing (client side), on the coordinator:
#     pgscale  CALL pgscale_cleanup_proc(relation => 'bench_pgscale') with a
#              365-day retention on date (pgscale_set_retention)
#     citus    CALL drop_old_time_partitions('bench_citus',
#              now() - interval '365 days'), which drops the partitions
#              wholly older than that in one transaction and leaves the
#              month that straddles it
# (the order alternates from run to run) and counts, through the
# coordinator, the expired rows (date < current_date - 365) left in each
# table and the rows kept, which must be the same in both: the run fails if
# either method lost a row within the retention.
#
# Prints each method's timings, the medians over RUNS runs (default 3), the
# ratio pgscale / citus and the expired rows each leaves.  The machine is
# shared and small: read the medians and the ratio, not single timings.
#
# Then compression (compress_after, with citus_columnar, which is built
# with Citus; skipped without citus_columnar.so): on bench_pgscale as the
# last run left it, the months wholly older than 3 months and wholly inside
# the retention are measured on heap (citus_total_relation_size, and
# citus_table_size for the data without the indexes, summed over the
# months) with the dashboard query (one team, one month: SELECT
# sum(suggestions_shown), count(*) ... WHERE team_id = 7 AND date in the
# month, constants in the query as an application sends them, QRUNS runs
# (default 9) on each month after a warm-up, timed inside the coordinator
# with clock_timestamp()); then compress_after => '3 months' and CALL
# pgscale_cleanup_proc() converts them (its time, and each month's time
# under ACCESS EXCLUSIVE from pgscale_log); the rows and a checksum of
# those months must be the same after; the same figures on columnar.
set -euo pipefail

# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pgs_pg_option --env RUNS --env MEMBERS --env QRUNS -- "$@"
[ ${#PGS_ARGS[@]} -eq 0 ] || pgs_die "unknown argument ${PGS_ARGS[0]} (options: --pg 15|17|18)"

RUNS=${RUNS:-3}
MEMBERS=${MEMBERS:-2250}
QRUNS=${QRUNS:-9}

pgs_install_deps
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
if [ ! -f "$PKGLIBDIR/citus.so" ]; then
	echo "skipped: Citus is not installed for PostgreSQL $PGS_PGVERSION (no citus.so in $PKGLIBDIR);" \
		"build Citus 13.2 against it first (test/README.md, \"The Citus test\": into the trixie" \
		"chroot for test/bench_citus.sh --pg 17)"
	exit 0
fi
pgs_stage_destdir

pgs_build_staged

# Three servers, each on its own socket directory; the last one started is
# the coordinator (PGHOST and PGPORT are left pointing at it).
pgs_say "starting a coordinator and two workers"
SETTINGS=("shared_preload_libraries=citus,pgscale" citus.shard_count=4
	shared_buffers=512MB max_wal_size=8GB checkpoint_timeout=1h autovacuum=off
	jit=off max_connections=100 maintenance_work_mem=256MB)
declare -a NODE_HOST NODE_PORT
for i in 1 2 3; do
	pgs_cluster_start "${SETTINGS[@]}"
	NODE_HOST[i]=$PGHOST
	NODE_PORT[i]=$PGPORT
done
export PGDATABASE=postgres
export PGOPTIONS="-c client_min_messages=warning"

# q: psql on the coordinator, stopping on the first error; qs: results
# discarded; qn N: psql on node N (1, 2: the workers)
q() {
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}
qs() {
	q -o /dev/null "$@"
}
qn() {
	local n=$1
	shift
	PGHOST=${NODE_HOST[n]} PGPORT=${NODE_PORT[n]} q "$@"
}

for i in 1 2 3; do
	qn "$i" -o /dev/null -c "CREATE EXTENSION citus"
done
qs -v chost="${NODE_HOST[3]}" -v cport="${NODE_PORT[3]}" \
	-v w1host="${NODE_HOST[1]}" -v w1port="${NODE_PORT[1]}" \
	-v w2host="${NODE_HOST[2]}" -v w2port="${NODE_PORT[2]}" <<'SQL'
SELECT citus_set_coordinator_host(:'chost', :cport);
SELECT citus_add_node(:'w1host', :w1port);
SELECT citus_add_node(:'w2host', :w2port);
CREATE EXTENSION pgscale;
SQL
[ "$(q -At -c 'SELECT count(*) FROM citus_get_active_worker_nodes()')" = 2 ] ||
	pgs_die "the coordinator does not see its two workers"
CITUS_VERSION=$(q -At -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'")
PG_VERSION=$(q -At -c "SHOW server_version")

pgs_say "loading the seed's metrics_aiusagedaily: $MEMBERS members x 24 months"
qs -v members="$MEMBERS" -v bench_src="$PGS_ROOT/test/data/bench_src.sql" <<'SQL'
\i :bench_src
SQL
ROWS=$(q -At -c "SELECT count(*) FROM bench_src")

# make_table NAME: a fresh distributed, monthly partitioned copy
make_table() {
	qs -v t="$1" <<'SQL'
DROP TABLE IF EXISTS :t;
CREATE TABLE :t (LIKE bench_src INCLUDING DEFAULTS,
    PRIMARY KEY (team_id, id, date)) PARTITION BY RANGE (date);
CREATE INDEX ON :t (team_id, date);
SELECT count(*) FROM pgscale_create_month_partitions(:'t', 1,
    (SELECT min(date) FROM bench_src));
SELECT create_distributed_table(:'t', 'team_id');
INSERT INTO :t SELECT * FROM bench_src;
VACUUM ANALYZE :t;
SQL
}

# timed SQL: run it on the coordinator, print its time in ms
timed() {
	q -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1
}

EXPIRED="date < current_date - 365"
declare -a T_PGSCALE=() T_CITUS=()
LEFT_PGSCALE='' LEFT_CITUS='' PARTS_BEFORE='' PARTS_PGSCALE='' PARTS_CITUS=''
for run in $(seq 1 "$RUNS"); do
	pgs_say "run $run of $RUNS: making the two tables"
	make_table bench_pgscale
	make_table bench_citus
	qs -c "SELECT pgscale_set_retention('bench_pgscale', interval '365 days', 'date')"
	PARTS_BEFORE=$(q -At -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'bench_citus'::regclass")
	for i in 1 2 3; do
		qn "$i" -o /dev/null -c "CHECKPOINT"
	done
	if [ $((run % 2)) -eq 1 ]; then
		order="pgscale citus"
	else
		order="citus pgscale"
	fi
	for method in $order; do
		case $method in
		pgscale) T_PGSCALE+=("$(timed "CALL pgscale_cleanup_proc(relation => 'bench_pgscale')")") ;;
		citus) T_CITUS+=("$(timed "CALL drop_old_time_partitions('bench_citus', now() - interval '365 days')")") ;;
		esac
	done
	LEFT_PGSCALE=$(q -At -c "SELECT count(*) FROM bench_pgscale WHERE $EXPIRED")
	LEFT_CITUS=$(q -At -c "SELECT count(*) FROM bench_citus WHERE $EXPIRED")
	PARTS_PGSCALE=$(q -At -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'bench_pgscale'::regclass")
	PARTS_CITUS=$(q -At -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'bench_citus'::regclass")
	kept=$(q -At -c "SELECT (SELECT count(*) FROM bench_src WHERE NOT ($EXPIRED))
	                   || '|' || (SELECT count(*) FROM bench_pgscale WHERE NOT ($EXPIRED))
	                   || '|' || (SELECT count(*) FROM bench_citus WHERE NOT ($EXPIRED))")
	IFS='|' read -r kept_src kept_pgscale kept_citus <<<"$kept"
	if [ "$kept_src" != "$kept_pgscale" ] || [ "$kept_src" != "$kept_citus" ]; then
		pgs_die "rows within the retention lost: source $kept_src, pgscale $kept_pgscale, citus $kept_citus"
	fi
	echo "pgscale ${T_PGSCALE[-1]} ms, $LEFT_PGSCALE expired rows left;" \
		"citus ${T_CITUS[-1]} ms, $LEFT_CITUS expired rows left; $kept_src kept rows in both"
done

M_PGSCALE=$(pgs_median "${T_PGSCALE[@]}")
M_CITUS=$(pgs_median "${T_CITUS[@]}")
RATIO=$(awk -v a="$M_PGSCALE" -v b="$M_CITUS" 'BEGIN { printf "%.2f", a / b }')
join() {
	local IFS=, list
	list="$*"
	echo "${list//,/, }"
}

pgs_say "results: PostgreSQL $PG_VERSION, citus extension $CITUS_VERSION, $ROWS rows, $PARTS_BEFORE monthly partitions, RUNS=$RUNS"
echo "| method | runs (ms) | median (ms) | partitions left | expired rows left |"
echo "|---|---|---|---|---|"
echo "| \`CALL pgscale_cleanup_proc(relation => 'bench_pgscale')\` (retention \`365 days\`) | $(join "${T_PGSCALE[@]}") | $M_PGSCALE | $PARTS_PGSCALE | $LEFT_PGSCALE |"
echo "| \`CALL drop_old_time_partitions('bench_citus', now() - interval '365 days')\` | $(join "${T_CITUS[@]}") | $M_CITUS | $PARTS_CITUS | $LEFT_CITUS |"
echo
echo "pgscale / citus (medians): ${RATIO}x"

# ---- compression of the old months: heap against columnar ----
if [ ! -f "$PKGLIBDIR/citus_columnar.so" ]; then
	echo "compression: skipped (no citus_columnar.so in $PKGLIBDIR)"
	exit 0
fi
pgs_say "compression: the months of bench_pgscale older than 3 months, heap against columnar"
qs <<'SQL'
CREATE EXTENSION IF NOT EXISTS citus_columnar;
-- the months compress_after => '3 months' converts (src/compress.c's rule
-- for a date column): wholly inside the retention, wholly older than 3 months
CREATE TABLE bench_months AS
SELECT p.part, p.lo, p.hi FROM (
    SELECT c.oid::regclass AS part,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::date AS lo,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::date AS hi
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'bench_pgscale'::regclass) p
WHERE p.lo >= current_date - 365 AND p.hi <= (current_date - interval '3 months')::date;

-- the dashboard query on each month, QRUNS times after a warm-up: median ms
CREATE FUNCTION bench_dashboard(runs integer) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    times float8[] := '{}';
    r record;
    s bigint;
    n bigint;
BEGIN
    FOR r IN SELECT lo, hi FROM bench_months ORDER BY lo LOOP
        FOR i IN 0..runs LOOP
            t0 := clock_timestamp();
            EXECUTE format('SELECT sum(suggestions_shown), count(*) FROM bench_pgscale
                            WHERE team_id = 7 AND date >= %L AND date < %L', r.lo, r.hi)
                INTO s, n;
            IF i > 0 THEN
                times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
            END IF;
        END LOOP;
    END LOOP;
    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t) FROM unnest(times) t);
END
$$;
CREATE TABLE bench_sizes (state text, months int, rows bigint, total bigint, data bigint, median_ms float8);
SQL
LO=$(q -At -c "SELECT min(lo) FROM bench_months")
HI=$(q -At -c "SELECT max(hi) FROM bench_months")
measure() { # state
	qs -c "INSERT INTO bench_sizes
		SELECT '$1', count(*),
		       (SELECT count(*) FROM bench_pgscale WHERE date >= '$LO' AND date < '$HI'),
		       sum(citus_total_relation_size(part)), sum(citus_table_size(part)),
		       bench_dashboard($QRUNS)
		FROM bench_months"
}
CHECKSUM="SELECT count(*) || '/' || sum(hashtext(id || ',' || team_id || ',' || date || ','
	|| suggestions_shown || ',' || active_minutes)::bigint) FROM bench_pgscale
	WHERE date >= '$LO' AND date < '$HI'"
measure heap
SUM_HEAP=$(q -At -c "$CHECKSUM")
qs -c "SELECT pgscale_set_retention('bench_pgscale', interval '365 days', 'date', compress_after => '3 months')" \
	-c "TRUNCATE pgscale.pgscale_log"
T_COMPRESS=$(timed "CALL pgscale_cleanup_proc(relation => 'bench_pgscale')")
for i in 1 2 3; do
	qn "$i" -o /dev/null -c "CHECKPOINT"
done
SUM_COLUMNAR=$(q -At -c "$CHECKSUM")
[ "$SUM_HEAP" = "$SUM_COLUMNAR" ] ||
	pgs_die "rows differ after compression: $SUM_HEAP on heap, $SUM_COLUMNAR on columnar"
CONVERTED=$(q -At -c "SELECT count(*) FROM bench_months b JOIN pg_class c ON c.oid = b.part
	JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'columnar'")
MONTHS=$(q -At -c "SELECT count(*) FROM bench_months")
[ "$CONVERTED" = "$MONTHS" ] || pgs_die "$CONVERTED of $MONTHS months converted"
measure columnar
LOCKS=$(q -At -F ' ' -c "SELECT round(extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY duration)) * 1000),
	round(extract(epoch FROM max(duration)) * 1000)
	FROM pgscale_log WHERE action = 'compress' AND detail LIKE 'converted%'")

pgs_say "compression results: PostgreSQL $PG_VERSION, citus extension $CITUS_VERSION, $MONTHS months ($(q -At -c "SELECT string_agg(part::text, ', ' ORDER BY lo) FROM bench_months")), QRUNS=$QRUNS"
echo "months converted: $CONVERTED of $MONTHS; rows and checksum equal: $SUM_COLUMNAR"
echo "CALL pgscale_cleanup_proc() compressing them: $T_COMPRESS ms; each month under ACCESS EXCLUSIVE (pgscale_log duration): median ${LOCKS% *} ms, longest ${LOCKS#* } ms"
echo
echo "| $MONTHS months | rows | citus_total_relation_size | citus_table_size (no indexes) | dashboard query, median ms |"
echo "|---|---|---|---|---|"
q -At -F ' | ' -c "SELECT '| ' || state, rows, total, data, round(median_ms::numeric, 2) || ' |'
	FROM bench_sizes ORDER BY state DESC"
echo
q -At -c "SELECT format('columnar: %s x smaller with the indexes (target 5x), %s x smaller for the data alone; dashboard query columnar/heap %s',
	round(h.total::numeric / c.total, 2), round(h.data::numeric / c.data, 2),
	round((c.median_ms / h.median_ms)::numeric, 2))
	FROM bench_sizes h, bench_sizes c WHERE h.state = 'heap' AND c.state = 'columnar'"
