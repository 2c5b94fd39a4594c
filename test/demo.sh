#!/bin/bash
# test/demo.sh: the README's first command.  Builds and installs pgscale,
# starts a throwaway cluster with pgscale preloaded, loads the seed-like data
# set (test/data/seed.sql, 1.6 million daily usage rows over two years),
# registers the seed's retention policies and shows the cleanup preview, the
# cleanup and its result in psql (test/demo.sql).  The cluster is removed at
# the end, also when something fails.
#
#     test/demo.sh            # the demo
#     test/demo.sh --psql     # then an interactive psql on the same data;
#                             # the cluster goes away when you quit it
#
# Runs as root on Debian 12 and installs what is missing with apt-get.
set -euo pipefail

# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OPEN_PSQL=
for arg in "$@"; do
	case $arg in
	--psql) OPEN_PSQL=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) pgs_die "unknown option '$arg' (--psql)" ;;
	esac
done

pgs_install_deps

pgs_say "building and installing pgscale (make WERROR=1 && make install)"
BUILD_LOG=$(mktemp "${TMPDIR:-/tmp}/pgscale-build.XXXXXX")
pgs_at_exit "rm -f $(printf %q "$BUILD_LOG")"
if ! pgs_build >"$BUILD_LOG" 2>&1; then
	cat "$BUILD_LOG"
	pgs_die "the build failed"
fi

pgs_say "starting a throwaway cluster with shared_preload_libraries = 'pgscale'"
pgs_cluster_start shared_preload_libraries=pgscale
# On failure, show the end of the server log before the cluster goes away.
# shellcheck disable=SC2016  # expanded when the handler runs
pgs_at_exit '[ "$PGS_EXIT_STATUS" -eq 0 ] || { echo "--- server log (end)"; pgs_cluster_log_tail; }'
echo "cluster in $PGS_CLUSTER_DIR (port $PGPORT), removed when the demo ends"

pgs_say "loading the seed-like data set (test/data/seed.sql)"
SECONDS=0
psql -X -q -v ON_ERROR_STOP=1 -f "$PGS_ROOT/test/data/seed.sql"
psql -X -q -v ON_ERROR_STOP=1 -c '\dt+ metrics_*'
echo "loaded in $SECONDS s"

pgs_say "pgscale in psql (test/demo.sql)"
psql -X -v ON_ERROR_STOP=1 -f "$PGS_ROOT/test/demo.sql"

if [ -n "$OPEN_PSQL" ]; then
	pgs_say "psql on the demo database; quit (\\q) to remove the cluster"
	psql -X
fi
pgs_say "done; removing the cluster"
