# shellcheck shell=bash
# test/lib.sh: shell functions shared by pgscale's scripts (test runner, demo,
# benchmarks).  Source it from bash:
#
#     . "$(dirname "$0")/lib.sh"         # or an absolute path
#
# and use:
#
#     pgs_install_deps [package ...]  install what is missing with apt-get
#     pgs_build                       make WERROR=1 && make install
#     pgs_at_exit 'command'           run a command when the script exits,
#                                     even on error or Ctrl-C (newest first;
#                                     $PGS_EXIT_STATUS holds the exit status)
#     pgs_cluster_start [guc=value ...]
#                                     start a throwaway cluster owned by
#                                     postgres, on a unix socket in a fresh
#                                     temporary directory; exports PGHOST,
#                                     PGPORT, PGUSER, PGDATABASE, PGDATA;
#                                     returns non-zero (after printing the
#                                     log) if it cannot start
#     pgs_cluster_stop [dir]          stop it and remove its directory (also
#                                     done at exit by pgs_cluster_start)
#     pgs_virtualenv [options] command
#                                     pg_virtualenv -t on a free port
#     pgs_as_postgres command ...     run a command as the postgres user
#     pgs_fake_clock 'date'           from now on, run every command under
#                                     libfaketime, as if this moment were
#                                     that date (time goes on from there)
#     pgs_chroot_suite MAJOR          the Debian suite that ships MAJOR
#     pgs_run_in_chroot [options] MAJOR command ...
#                                     run a command on a copy of this tree
#                                     in that suite's chroot (test/chroot.sh)
#     pgs_pg_option [options] -- "$@" take --pg MAJOR out of a script's
#                                     arguments: 17 and 18 run the script
#                                     again in their chroot and exit
#     pgs_stage_destdir               a temporary PGS_DESTDIR when none is set
#
# Nothing here uses port 5432 or touches the system's clusters.  The caller
# chooses its own shell options (set -euo pipefail is expected).
#
# PGS_DESTDIR=/some/dir (absolute, readable by postgres) installs pgscale
# into that staging directory instead of the system, and every cluster
# started here loads it from there (Debian's extension_destdir setting), so
# that several checkouts can be built and tested at once on one machine.

# Where things are.  PGS_PGVERSION picks the PostgreSQL major version.
PGS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${PGS_PGVERSION:=15}"
: "${PG_CONFIG:=/usr/lib/postgresql/$PGS_PGVERSION/bin/pg_config}"
PGS_BINDIR=/usr/lib/postgresql/$PGS_PGVERSION/bin
export PG_CONFIG

# Same results everywhere: UTF-8, C collation, English messages.
export LANG=C.UTF-8
unset LC_ALL LANGUAGE LC_CTYPE LC_COLLATE LC_MESSAGES
export DEBIAN_FRONTEND=noninteractive

# Print a heading.
pgs_say() {
	printf '\n==> %s\n' "$*"
}

# Print an error and exit.
pgs_die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

#
# Exit handlers: one trap for the whole script, so that several cleanups
# (clusters, temporary directories) can be registered and all of them run,
# newest first, whether the script ends normally, fails or is interrupted.
#
PGS_EXIT_HANDLERS=()

pgs_at_exit() {
	PGS_EXIT_HANDLERS+=("$1")
}

_pgs_run_exit_handlers() {
	local rc=$? i
	set +e
	trap - EXIT
	# shellcheck disable=SC2034  # read by the handlers
	PGS_EXIT_STATUS=$rc
	for ((i = ${#PGS_EXIT_HANDLERS[@]} - 1; i >= 0; i--)); do
		eval "${PGS_EXIT_HANDLERS[i]}"
	done
	PGS_EXIT_HANDLERS=()
	exit "$rc"
}

trap _pgs_run_exit_handlers EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

#
# Packages.  The list every script needs; callers may add more.
#
# pgs_packages [major] prints them for another major version, one a line.
pgs_packages() {
	local v=${1:-$PGS_PGVERSION}
	printf '%s\n' build-essential postgresql-"$v" postgresql-server-dev-"$v" \
		postgresql-"$v"-pgtap postgresql-"$v"-cron postgresql-"$v"-partman \
		libtap-parser-sourcehandler-pgtap-perl libipc-run-perl \
		libfaketime faketime python3-prometheus-client python3-yaml
}
mapfile -t PGS_PACKAGES < <(pgs_packages "$PGS_PGVERSION")

#
# Other major versions, in chroots.  15 is Debian 12's, this machine's; 17
# and 18 come from the archives of the Debian suites that ship them, in a
# chroot made and entered by test/chroot.sh.  The test runner's --pg and
# the benchmarks' --pg both go through pgs_run_in_chroot.
#
pgs_chroot_suite() {
	case $1 in
	17) echo trixie ;;
	18) echo sid ;;
	*) return 1 ;;
	esac
}

# pgs_run_in_chroot [--fresh] [--include PKGS] [--env VAR=VALUE] MAJOR command ...
# Run the command (a path relative to the top of this tree, e.g. bash
# test/run_tests.sh ...) as root in the chroot of MAJOR's suite, on a copy
# of this tree, with PGS_PGVERSION=MAJOR and the packages of pgs_packages
# MAJOR, procps and PKGS (in which {v} stands for MAJOR) put in.  CI,
# PGS_TEST_TIMEOUT and PGS_MIRROR go in when set, and every --env.
pgs_run_in_chroot() {
	local v suite pkgs=
	local -a opts=()
	while [ $# -gt 0 ]; do
		case $1 in
		--fresh) opts+=(--fresh) ;;
		--include) pkgs="$pkgs $2" && shift ;;
		--env) opts+=(--setenv "$2") && shift ;;
		*) break ;;
		esac
		shift
	done
	v=$1
	shift
	suite=$(pgs_chroot_suite "$v") || pgs_die "no chroot for PostgreSQL $v (17: trixie, 18: sid)"
	pkgs="$(pgs_packages "$v" | tr '\n' ' ') procps ${pkgs//\{v\}/$v}"
	opts+=(--copy "$PGS_ROOT" --include "$pkgs" --setenv PGS_PGVERSION="$v")
	[ -n "${CI:-}" ] && opts+=(--setenv CI="$CI")
	[ -n "${PGS_TEST_TIMEOUT:-}" ] && opts+=(--setenv PGS_TEST_TIMEOUT="$PGS_TEST_TIMEOUT")
	[ -n "${PGS_MIRROR:-}" ] && opts+=(--setenv PGS_MIRROR="$PGS_MIRROR")
	pgs_say "PostgreSQL $v: in the $suite chroot"
	"$PGS_ROOT/test/chroot.sh" "${opts[@]}" "$suite" "$@"
}

# pgs_pg_option [--include PKGS] [--env VAR] ... -- "$@"
# For a script that takes --pg MAJOR (15, the default, 17 or 18): takes it
# out of the arguments and leaves the others in the array PGS_ARGS.  With
# 17 or 18 it runs the calling script again, with PGS_ARGS, in that
# version's chroot (pgs_run_in_chroot, the --include packages put in, each
# --env variable passed on when set) and exits with its status.  In there
# TMPDIR is /var/tmp, on disk like this machine's /tmp (the chroot's /tmp
# is a tmpfs), so that the clusters of both versions write to a disk.
pgs_pg_option() {
	local pg='' var
	local -a inc=() envs=()
	while [ $# -gt 0 ]; do
		case $1 in
		--include) inc+=(--include "$2") && shift ;;
		--env) envs+=("$2") && shift ;;
		--) shift && break ;;
		*) pgs_die "pgs_pg_option: unknown option $1" ;;
		esac
		shift
	done
	PGS_ARGS=()
	while [ $# -gt 0 ]; do
		case $1 in
		--pg)
			[ $# -ge 2 ] || pgs_die "--pg needs a version (15, 17, 18)"
			pg=$2
			shift
			;;
		--pg=*) pg=${1#--pg=} ;;
		*) PGS_ARGS+=("$1") ;;
		esac
		shift
	done
	case $pg in
	'') ;;
	15)
		if [ "$PGS_PGVERSION" != 15 ]; then
			PGS_PGVERSION=15 PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
			PGS_BINDIR=/usr/lib/postgresql/15/bin
			mapfile -t PGS_PACKAGES < <(pgs_packages 15)
			export PG_CONFIG
		fi
		;;
	17 | 18)
		local -a opts=("${inc[@]}" --env TMPDIR=/var/tmp)
		for var in "${envs[@]}"; do
			[ -n "${!var+set}" ] && opts+=(--env "$var=${!var}")
		done
		local script
		script=$(realpath --relative-to="$PGS_ROOT" "$0")
		pgs_run_in_chroot "${opts[@]}" "$pg" bash "$script" "${PGS_ARGS[@]}"
		exit
		;;
	*) pgs_die "--pg $pg: 15, 17 or 18" ;;
	esac
}

# Install into a temporary staging directory, removed at exit, unless
# PGS_DESTDIR names one: a benchmark never touches the installed pgscale.
pgs_stage_destdir() {
	[ -n "${PGS_DESTDIR:-}" ] && return 0
	PGS_DESTDIR=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-bench-stage.XXXXXX") || return 1
	chmod 755 "$PGS_DESTDIR"
	pgs_at_exit "rm -rf $(printf %q "$PGS_DESTDIR")"
	export PGS_DESTDIR
}

# Install the packages above (and any given) that are missing; apt-get update
# runs only when something is missing.
pgs_install_deps() {
	local pkg missing=()
	for pkg in "${PGS_PACKAGES[@]}" "$@"; do
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]; then
			missing+=("$pkg")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		pgs_die "missing packages (run as root to install them): ${missing[*]}"
	fi
	pgs_say "installing ${missing[*]}"
	local log
	log=$(mktemp "${TMPDIR:-/tmp}/pgscale-apt.XXXXXX") || return 1
	# Wait for another apt-get to finish rather than fail on its lock.
	if apt-get -o DPkg::Lock::Timeout=600 update -q >"$log" 2>&1 &&
		apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
			"${missing[@]}" >>"$log" 2>&1 </dev/null; then
		echo "installed $(grep -c "^Setting up" "$log") packages"
		rm -f "$log"
	else
		tail -n 40 "$log"
		echo "error: apt-get failed (full log in $log)" >&2
		return 1
	fi
}

# Build pgscale with warnings as errors and install it (into PGS_DESTDIR
# when set).  Output goes to the terminal; the exit status tells whether it
# worked.
pgs_build() {
	make -C "$PGS_ROOT" -s clean >/dev/null 2>&1 || true
	make -C "$PGS_ROOT" WERROR=1 PG_CONFIG="$PG_CONFIG" &&
		make -C "$PGS_ROOT" -s install PG_CONFIG="$PG_CONFIG" \
			${PGS_DESTDIR:+DESTDIR="$PGS_DESTDIR"}
}

# pgs_build_staged: for a benchmark, build and install pgscale as pgs_build
# does, into PGS_DESTDIR (pgs_stage_destdir first), quietly: the build's
# output is shown only when it fails, and then the script stops.
pgs_build_staged() {
	local log
	pgs_say "building pgscale (staged in $PGS_DESTDIR)"
	log=$(mktemp)
	pgs_at_exit "rm -f $(printf %q "$log")"
	if ! pgs_build >"$log" 2>&1; then
		cat "$log" >&2
		pgs_die "build failed"
	fi
}

# pgs_median [N ...]: the median of the numbers given, or of those on
# standard input, one a line, when none is given; nothing for no number.
pgs_median() {
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@"
	else
		cat
	fi | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Print, one per line as guc=value, the settings a server needs to load
# pgscale from PGS_DESTDIR (nothing when it is not set).
pgs_destdir_settings() {
	[ -n "${PGS_DESTDIR:-}" ] || return 0
	case $PGS_DESTDIR in /*) ;; *) pgs_die "PGS_DESTDIR must be an absolute path" ;; esac
	echo "extension_destdir=$PGS_DESTDIR"
	echo "dynamic_library_path=$PGS_DESTDIR$("$PG_CONFIG" --pkglibdir):\$libdir"
}

# Run a command as the postgres user (or as ourselves if we are not root),
# from /, since the caller's directory may be closed to postgres.
pgs_as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

# Run everything started from here on with the clock moved so that now is
# the given date (date(1) syntax; UTC unless it names a zone), by a fixed
# offset: every process sees the same time, and time passes as usual.  The
# monotonic clock stays real (timeouts and latches are not affected).
pgs_fake_clock() {
	local target now lib shim
	lib=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/faketime/libfaketime.so.1
	if [ ! -f "$lib" ]; then
		pgs_install_deps libfaketime faketime || return 1
	fi
	[ -f "$lib" ] || pgs_die "libfaketime is not installed ($lib)"
	target=$(TZ=UTC date -d "$1" +%s) || pgs_die "not a date: $1"
	# In front of libfaketime, the calls that sleep go to the kernel: see
	# test/faketime/sleep_shim.c for why PostgreSQL needs it.
	shim=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-faketime.XXXXXX") || return 1
	chmod 755 "$shim"
	pgs_at_exit "unset LD_PRELOAD FAKETIME FAKETIME_SHARED; rm -rf $(printf %q "$shim")"
	gcc -shared -fPIC -O2 -Wall -Werror -o "$shim/sleep_shim.so" \
		"$PGS_ROOT/test/faketime/sleep_shim.c" || return 1
	# one libfaketime state for root's and postgres' processes alike: see
	# test/faketime/shared_sync.c
	gcc -O2 -Wall -Werror -o "$shim/shared_sync" \
		"$PGS_ROOT/test/faketime/shared_sync.c" -pthread || return 1
	export FAKETIME_SHARED="/pgscale_ft_sem_$$ /pgscale_ft_shm_$$"
	"$shim/shared_sync" create $FAKETIME_SHARED || return 1
	pgs_at_exit "$(printf %q "$shim/shared_sync") remove $FAKETIME_SHARED"
	now=$(date +%s)
	export LD_PRELOAD=$shim/sleep_shim.so:$lib${LD_PRELOAD:+:$LD_PRELOAD}
	export FAKETIME="$(printf '%+d' $((target - now)))"
	export FAKETIME_DONT_FAKE_MONOTONIC=1
	pgs_say "clock faked: now is $(TZ=UTC date '+%Y-%m-%d %H:%M:%S %Z') (offset $FAKETIME s)"
	[ "$(date +%s)" -ge "$target" ] || pgs_die "libfaketime did not move the clock"
}

# Print a port that nothing listens on, away from 5432 and from the range
# PostgreSQL::Test::Cluster draws from (49152-65535).
pgs_free_port() {
	local port i
	for i in $(seq 1 200); do
		port=$((20000 + RANDOM % 28000))
		[ -e "/var/run/postgresql/.s.PGSQL.$port" ] && continue
		[ -e "/tmp/.s.PGSQL.$port" ] && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
		echo "$port"
		return 0
	done
	pgs_die "no free port found"
}

# Print guc=value as a postgresql.conf line.
pgs_conf_line() {
	printf "%s = '%s'\n" "${1%%=*}" "$(printf %s "${1#*=}" | sed "s/'/''/g")"
}

#
# Throwaway cluster in a temporary directory: data, socket and log all live
# in it, the server listens on no TCP address, and it is stopped and removed
# when the script exits.  Arguments are postgresql.conf settings, e.g.
# shared_preload_libraries=pgscale; they override the defaults below
# (fsync=off, since nothing here needs to survive a power cut).
#
pgs_cluster_start() {
	local dir port setting
	local -a settings
	mapfile -t settings < <(pgs_destdir_settings)
	settings+=("$@")
	dir=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-cluster.XXXXXX")
	pgs_at_exit "pgs_cluster_stop $(printf %q "$dir")"
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
	port=$(pgs_free_port) || return 1

	if ! pgs_as_postgres "$PGS_BINDIR/initdb" -D "$dir/data" -U postgres \
		-A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		echo "error: initdb failed" >&2
		return 1
	fi
	{
		echo "# added by pgscale test/lib.sh"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "port = $port"
		echo "fsync = off"
		echo "log_line_prefix = '%m [%p] %q%a '"
		for setting in "${settings[@]}"; do
			pgs_conf_line "$setting"
		done
	} >>"$dir/data/postgresql.conf"

	if ! pgs_as_postgres "$PGS_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
		-w -t 120 start >/dev/null; then
		tail -n 50 "$dir/server.log" >&2
		echo "error: the throwaway cluster did not start" >&2
		return 1
	fi
	export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	export PGDATA=$dir/data PGS_CLUSTER_DIR=$dir
	unset PGHOSTADDR PGSERVICE PGPASSWORD
}

# Stop a throwaway cluster (the last one started, by default) and remove it.
# Safe to call twice.
pgs_cluster_stop() {
	local dir=${1:-${PGS_CLUSTER_DIR:-}}
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	if [ -f "$dir/data/postmaster.pid" ]; then
		pgs_as_postgres "$PGS_BINDIR/pg_ctl" -D "$dir/data" -m immediate \
			-w stop >/dev/null 2>&1
	fi
	rm -rf "$dir"
}

# Print the lines of a server log that tell of a crash or an assertion
# failure (with the statement before them), if there are any.
pgs_log_crashes() {
	[ -f "$1" ] || return 0
	if grep -qE 'PANIC|TRAP:|terminated by signal|was terminated by' "$1"; then
		echo "------ crash in the server log $1:"
		grep -E -B3 'PANIC|TRAP:|terminated by signal|was terminated by' "$1" | tail -n 40
	fi
}

# Print the end of the server log of a throwaway cluster.
pgs_cluster_log_tail() {
	local dir=${1:-${PGS_CLUSTER_DIR:-}}
	[ -f "$dir/server.log" ] && tail -n "${2:-50}" "$dir/server.log"
}

# Run a command under Debian's pg_virtualenv, on a free port, with the
# cluster in a temporary directory (-t) so that it never collides with the
# system's clusters or another pg_virtualenv.  Takes pg_virtualenv's options
# (-o guc=value ...) then the command; pg_virtualenv removes the cluster when
# the command ends, however it ends, and prints the server log on failure.
pgs_virtualenv() {
	local setting port
	local -a opts=()
	while IFS= read -r setting; do
		opts+=(-o "$setting")
	done < <(pgs_destdir_settings)
	port=$(pgs_free_port) || return 1
	PGPORT=$port pg_virtualenv -t -v "$PGS_PGVERSION" -c "--locale=C.UTF-8" \
		"${opts[@]}" "$@"
}
