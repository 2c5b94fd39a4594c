#!/bin/bash
# test/run_tests.sh: build pgscale, run its test suites through PGXS, print
# "N passed, N failed" and exit non-zero if anything failed.
#
#     test/run_tests.sh                              # every suite
#     test/run_tests.sh pgtap tap                    # some suites
#     test/run_tests.sh sql/policy.sql test/t/001_worker.pl   # some files
#     test/run_tests.sh --date '2027-02-28 23:59:40' # on a faked clock
#     test/run_tests.sh --pg 17|18 [...]             # in a Debian chroot
#     test/run_tests.sh --pg all [...]               # 15, 17, 18; one sum
#     --fresh-chroot                                 # make the chroots again
#
# PGXS runs the tests: make installcheck (REGRESS and ISOLATION) in a
# pg_virtualenv cluster that preloads pgscale, make installcheck with
# TAP_TESTS (prove_installcheck) as postgres for each test/t/*.pl, and
# pg_prove for each test/pgtap/*.sql in a fresh database.  Pass or fail is
# their exit status; the counts are their own summaries (pg_regress: tests,
# prove and pg_prove: assertions).  What is left here: packages, the
# postgres user, the clusters, the chroots, the faked clock, timeouts and
# the closing line.  See test/README.md.
#
# Environment: PGS_PGVERSION (another installed major version), PGS_DESTDIR
# (install into that staging directory, see test/lib.sh), PGS_TEST_TIMEOUT
# (seconds for each make installcheck, pgTAP or TAP file; 600).
set -uo pipefail

# --pg and --fresh-chroot are taken out here; the other arguments go to the
# run of each version (inside a chroot for 17 and 18).
PG=
FRESH_CHROOT=
ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--pg)
		[ $# -ge 2 ] || { echo "error: --pg needs a version (15, 17, 18, all)" >&2 && exit 1; }
		PG=$2
		shift
		;;
	--pg=*) PG=${1#--pg=} ;;
	--fresh-chroot) FRESH_CHROOT=1 ;;
	*) ARGS+=("$1") ;;
	esac
	shift
done
set -- "${ARGS[@]}"
case $PG in
'') ;;
15) export PGS_PGVERSION=15 PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config ;;
17 | 18 | all) ;;
*) echo "error: --pg $PG: 15, 17, 18 or all" >&2 && exit 1 ;;
esac

# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PGS_ROOT" || exit 1

TIMEOUT=${PGS_TEST_TIMEOUT:-600}
PASSED=0
FAILED=0
SUMMARY=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-tests.XXXXXX") || exit 1
chmod 755 "$WORK"
pgs_at_exit "rm -rf $(printf %q "$WORK")"

# The closing line of a run's output ("N passed, N failed"): sets PASS, FAIL
# (0 and 1 when there is none).
closing_line() {
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1)
	PASS=0 FAIL=1
	[ -n "$line" ] || return 0
	PASS=${line%% passed*}
	FAIL=${line#*passed, }
	FAIL=${FAIL%% failed}
}

# Run this script for one major version: here for 15, in its chroot
# otherwise (pgs_run_in_chroot, test/lib.sh).
run_version() {
	local v=$1
	shift
	if [ "$v" = 15 ]; then
		PGS_PGVERSION=15 PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config \
			bash "$PGS_ROOT/test/run_tests.sh" "$@"
		return
	fi
	local -a opts=()
	[ -n "$FRESH_CHROOT" ] && opts+=(--fresh)
	pgs_run_in_chroot "${opts[@]}" "$v" bash test/run_tests.sh "$@"
}

case $PG in
17 | 18)
	run_version "$PG" "$@"
	exit
	;;
all)
	# each version in turn, its closing line kept, then the sum
	lines=()
	for v in 15 17 18; do
		start=$SECONDS
		run_version "$v" "$@" 2>&1 | tee "$WORK/pg$v.out"
		rc=${PIPESTATUS[0]}
		closing_line "$WORK/pg$v.out"
		[ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ] && FAIL=1
		PASSED=$((PASSED + PASS))
		FAILED=$((FAILED + FAIL))
		lines+=("$(printf 'PostgreSQL %s: %d passed, %d failed (%d s)' "$v" "$PASS" "$FAIL" $((SECONDS - start)))")
	done
	printf '\n=== all versions\n'
	printf '%s\n' "${lines[@]}"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
	;;
esac

# Record the result of a suite.
tally() {
	PASSED=$((PASSED + $2))
	FAILED=$((FAILED + $3))
	SUMMARY+=("$(printf '%-10s %4d passed, %d failed' "$1:" "$2" "$3")")
	printf -- '--- %s: %d passed, %d failed\n' "$1" "$2" "$3"
}

# Print the summary and the closing line, and exit with the right status.
finish() {
	printf '\n=== summary\n'
	printf '%s\n' "${SUMMARY[@]}"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}

# Show a file (a diff, a log) with a heading, cut after 400 lines.
show() {
	local lines
	[ -s "$1" ] || return 0
	lines=$(wc -l <"$1")
	echo "------ $1"
	head -n 400 "$1"
	[ "$lines" -gt 400 ] && echo "------ ($((lines - 400)) more lines in $1)"
	echo "------"
}

# Counts from the closing summary of TAP::Harness (prove and pg_prove print
# the same): "Files=1, Tests=N, ..." and, for each failing file, "(Wstat: ...
# Tests: N Failed: M)".  Sets PASS and FAIL; a run that failed (exit status
# $2) with no failed assertion, or printed no summary, is one failure.
harness_count() {
	local tests
	tests=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$1" | tail -n 1)
	FAIL=$(grep -oE 'Tests: [0-9]+ Failed: [0-9]+\)' "$1" | awk '{ n += $4 } END { print n + 0 }')
	PASS=$((${tests:-0} - FAIL))
	if [ -z "$tests" ] || { [ "$2" -ne 0 ] && [ "$FAIL" -eq 0 ]; }; then
		FAIL=$((FAIL + 1))
	fi
}

# The suites and files to run, from the command line: every file of a suite
# named or of which no file is named, only the named files otherwise; with
# neither suites nor files named, everything.
SUITES=()
ONLY=()
FAKE_DATE=
while [ $# -gt 0 ]; do
	arg=$1
	shift
	case $arg in
	--date)
		[ $# -gt 0 ] || pgs_die "--date needs a date, for example --date '2027-02-28 23:59:40'"
		FAKE_DATE=$1
		shift
		;;
	--date=*) FAKE_DATE=${arg#--date=} ;;
	regress | isolation | pgtap | tap) SUITES+=("$arg") ;;
	sql/*.sql | test/specs/*.spec | test/pgtap/*.sql | test/t/*.pl)
		[ -f "$arg" ] || pgs_die "no test file $arg"
		ONLY+=("$arg")
		;;
	-h | --help)
		sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) pgs_die "unknown suite '$arg' (regress, isolation, pgtap, tap)" ;;
	esac
done

# files_of SUITE PATTERN: the files of a suite to run, one a line.
files_of() {
	local suite=$1 pattern=$2 f named=()
	for f in "${ONLY[@]}"; do
		# shellcheck disable=SC2053  # a glob on purpose
		[[ $f == $pattern ]] && named+=("$f")
	done
	if [[ ${#named[@]} -eq 0 && (${#ONLY[@]} -gt 0 || ${#SUITES[@]} -gt 0) && " ${SUITES[*]} " != *" $suite "* ]]; then
		return 0
	fi
	if [ ${#named[@]} -gt 0 ]; then
		printf '%s\n' "${named[@]}"
	else
		compgen -G "$pattern" | grep -v '^sql/pgscale--' | sort
	fi
}
mapfile -t REGRESS < <(files_of regress 'sql/*.sql')
mapfile -t ISOLATION < <(files_of isolation 'test/specs/*.spec')
mapfile -t PGTAP < <(files_of pgtap 'test/pgtap/*.sql')
mapfile -t TAP < <(files_of tap 'test/t/*.pl')

# The test names of some files: sql/a.sql test/specs/b.spec -> "a b".
names() {
	local f out=()
	for f in "$@"; do
		f=$(basename "$f")
		out+=("${f%.*}")
	done
	echo "${out[*]}"
}

#
# regress and isolation: one make installcheck in a pg_virtualenv cluster
# that preloads pgscale.  make stops at the first suite that fails, so when
# pg_regress failed, the isolation specs run after it in the same cluster.
#
# Inside the cluster: installcheck WORK TIMEOUT REGRESS ISOLATION
# shellcheck disable=SC2317  # run by bash -c inside pg_virtualenv
installcheck() {
	local work=$1 timeout=$2 regress=$3 isolation=$4
	trap 'exit 130' INT
	trap 'exit 143' TERM
	timeout -k 10 "$timeout" make -s installcheck TAP_TESTS= REGRESS="$regress" \
		ISOLATION="$isolation" 2>&1 | tee "$work/installcheck.out"
	echo "${PIPESTATUS[0]}" >"$work/installcheck.rc"
	if [ -n "$regress" ] && [ -n "$isolation" ] &&
		[ "$(grep -cE 'tests (passed|failed)' "$work/installcheck.out")" -lt 2 ]; then
		echo "--- make installcheck stopped after pg_regress: now the isolation specs"
		timeout -k 10 "$timeout" make -s installcheck TAP_TESTS= REGRESS= \
			ISOLATION="$isolation" 2>&1 | tee -a "$work/installcheck.out"
		echo "${PIPESTATUS[0]}" >>"$work/installcheck.rc"
	fi
	# keep the server log, which pg_virtualenv removes with the cluster
	cp "${PG_CLUSTER_CONF_ROOT%/postgresql}"/log/*.log "$work/server.log"
	true
}

# pg_regress's closing line, one per run ("All N tests passed." or "M of N
# tests failed."), as "tests failed" lines in order.
regress_summaries() {
	sed -nE 's/.*All ([0-9]+) tests passed.*/\1 0/p; s/.* ([0-9]+) of ([0-9]+) tests failed.*/\2 \1/p' "$1"
}

suite_installcheck() {
	local rc status=0 suite total fail n=0
	local -a counts
	[ ${#REGRESS[@]} -gt 0 ] || [ ${#ISOLATION[@]} -gt 0 ] || return 0
	pgs_say "make installcheck: regress (${#REGRESS[@]} tests), isolation (${#ISOLATION[@]} specs), in pg_virtualenv"
	rm -rf results output_iso regression.diffs regression.out
	export -f installcheck
	# The fixtures remove most of their rows: the blast-radius limit is off
	# but for sql/guard.sql, which sets it per session.
	pgs_virtualenv -o shared_preload_libraries=pgscale -o pgscale.max_delete_fraction=1 \
		bash -c 'installcheck "$@"' installcheck "$WORK" \
		$((TIMEOUT * 2)) "$(names "${REGRESS[@]}")" "$(names "${ISOLATION[@]}")"
	rc=$?
	pgs_log_crashes "$WORK/server.log"
	[ -f "$WORK/installcheck.rc" ] && status=$(sort -nr "$WORK/installcheck.rc" | head -n 1)
	mapfile -t counts < <(regress_summaries "$WORK/installcheck.out" 2>/dev/null)
	for suite in regress isolation; do
		if [ $suite = regress ]; then
			[ ${#REGRESS[@]} -gt 0 ] || continue
			[ "$status" != 0 ] && show regression.diffs
		else
			[ ${#ISOLATION[@]} -gt 0 ] || continue
			[ "$status" != 0 ] && show output_iso/regression.diffs
		fi
		if [ -z "${counts[n]:-}" ]; then
			echo "$suite: no pg_regress summary (pg_virtualenv exited with $rc, make with $status)"
			tally $suite 0 1
			continue
		fi
		read -r total fail <<<"${counts[n]}"
		n=$((n + 1))
		tally $suite $((total - fail)) "$fail"
	done
}

#
# pgTAP: pg_prove over each file, each in a fresh database that already has
# pgtap and pgscale, in one throwaway cluster that preloads pgscale.
#
suite_pgtap() {
	local f i=0 db out rc pass=0 fail=0
	[ ${#PGTAP[@]} -gt 0 ] || return 0
	pgs_say "pgtap (${#PGTAP[@]} files): pg_prove, one fresh database per file"
	if ! pgs_cluster_start shared_preload_libraries=pgscale pgscale.max_delete_fraction=1; then
		tally pgtap 0 1
		return
	fi
	for f in "${PGTAP[@]}"; do
		i=$((i + 1))
		db=pgtap_$i
		out=$WORK/pgtap_$i.out
		if ! psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" ||
			! psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
				-c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION pgscale'; then
			echo "$f: could not prepare database $db"
			fail=$((fail + 1))
			continue
		fi
		PATH=$PGS_BINDIR:$PATH timeout -k 10 "$TIMEOUT" pg_prove -v -d "$db" "$f" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		[ "$rc" = 124 ] && echo "$f: timed out after $TIMEOUT s"
		harness_count "$out" "$rc"
		pass=$((pass + PASS))
		fail=$((fail + FAIL))
		psql -X -q -d postgres -c "DROP DATABASE $db WITH (FORCE)"
	done
	pgs_log_crashes "$PGS_CLUSTER_DIR/server.log"
	pgs_cluster_stop "$PGS_CLUSTER_DIR"
	tally pgtap "$pass" "$fail"
}

#
# TAP: PGXS's prove_installcheck (make installcheck with TAP_TESTS, one file
# at a time for its timeout) as postgres, in a copy of the tree postgres can
# write to; each test makes its own clusters (PostgreSQL::Test::Cluster).
#
# Stop any server a TAP test left behind under a directory, then remove it.
# After an interrupt the test's own cleanup may still be running, so try a
# few times.
tap_cleanup() {
	local dir=$1 pidfile i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ -d "$dir" ] || return 0
		while IFS= read -r pidfile; do
			pgs_as_postgres "$PGS_BINDIR/pg_ctl" -D "$(dirname "$pidfile")" \
				-m immediate stop >/dev/null 2>&1
		done < <(find "$dir" -name postmaster.pid 2>/dev/null)
		rm -rf "$dir" 2>/dev/null
		sleep 0.5
	done
}

suite_tap() {
	local f copy out rc pass=0 fail=0 log setting
	[ ${#TAP[@]} -gt 0 ] || return 0
	pgs_say "tap (${#TAP[@]} files): make installcheck (prove_installcheck) as postgres"
	copy=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-tap.XXXXXX") || return 1
	pgs_at_exit "tap_cleanup $(printf %q "$copy")"
	tar -C "$PGS_ROOT" --exclude=./.git -cf - . | tar -C "$copy" -xf -
	# with PGS_DESTDIR, every node must load pgscale from there
	while IFS= read -r setting; do
		pgs_conf_line "$setting"
	done < <(pgs_destdir_settings) >"$copy/tap_extra.conf"
	[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$copy"
	chmod 755 "$copy"
	for f in "${TAP[@]}"; do
		out=$WORK/tap_$(basename "$f" .pl).out
		# (TESTDIR: PGXS sets it on 15 only; the tests read their data files from it)
		pgs_as_postgres timeout -k 10 "$TIMEOUT" env TESTDIR="$copy" TEMP_CONFIG="$copy/tap_extra.conf" \
			make -C "$copy" -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS= \
			ISOLATION= PROVE_TESTS="$f" PROVE_FLAGS=-v 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		[ "$rc" = 124 ] && echo "$f: timed out after $TIMEOUT s"
		harness_count "$out" "$rc"
		pass=$((pass + PASS))
		fail=$((fail + FAIL))
		log=$copy/tmp_check/log/regress_log_$(basename "$f" .pl)
		if [ "$rc" -ne 0 ] && [ -f "$log" ]; then
			echo "------ end of $log"
			tail -n 60 "$log"
		fi
		# what a test keeps as artifacts (the report's page and screenshot),
		# before the next one's prove_installcheck empties tmp_check
		if compgen -G "$copy/tmp_check/*.png" >/dev/null; then
			mkdir -p "$PGS_ROOT/test/artifacts"
			cp "$copy"/tmp_check/*.png "$copy"/tmp_check/*.html "$PGS_ROOT/test/artifacts/" 2>/dev/null
			pgs_say "artifacts kept in test/artifacts: $(cd "$PGS_ROOT/test/artifacts" && echo *)"
		fi
	done
	tap_cleanup "$copy"
	tally tap "$pass" "$fail"
}

START=$SECONDS
# The report's browser test (test/t/095_report_html.pl) renders the page in
# Debian's chromium, installed on this machine's own version only: in the
# chroots of 17 and 18 that test checks the page's text and skips the browser.
BROWSER=()
[ "$PGS_PGVERSION" = 15 ] && BROWSER=(chromium)
pgs_install_deps "${BROWSER[@]}" || pgs_die "could not install the packages the tests need"

pgs_say "build: make WERROR=1 && make install"
if ! pgs_build >"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"
	echo "build failed: no suite can run"
	tally build 0 1
	finish
fi
echo "built and installed${PGS_DESTDIR:+ into $PGS_DESTDIR}"

# from here on, every server and client runs on the faked clock
if [ -n "$FAKE_DATE" ]; then
	pgs_fake_clock "$FAKE_DATE" || pgs_die "could not fake the clock"
fi

suite_installcheck
suite_pgtap
suite_tap

printf '\n(took %d s)\n' $((SECONDS - START))
finish
