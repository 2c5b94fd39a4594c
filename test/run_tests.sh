#!/bin/bash
# test/run_tests.sh: build pgscale and run every test suite, each against its
# own throwaway PostgreSQL cluster, then print "N passed, N failed".
#
#     test/run_tests.sh                  # everything (what CI runs)
#     test/run_tests.sh pgtap tap        # only some suites
#     test/run_tests.sh sql/policy.sql test/t/001_worker.pl
#                                        # only some files (and their suites)
#     test/run_tests.sh --date '2027-02-28 23:59:40'
#                                        # as if it were that moment (UTC
#                                        # unless the date names a zone)
#
# --date starts every server and client under libfaketime with the clock
# moved by a fixed offset, so that the run begins at that moment and time
# then passes normally (a run started a minute before midnight crosses it).
#     test/run_tests.sh --pg 17 [...]    # the same on PostgreSQL 17 (trixie
#                                        # chroot); 18: sid chroot; 15: here
#     test/run_tests.sh --pg all [...]   # 15, 17 and 18 in turn, one summed
#                                        # closing line
#     --fresh-chroot                     # with --pg: make the chroots again
#
# --pg 17 and --pg 18 run this same script, with the other arguments, as
# root inside a minimal Debian chroot of the suite that ships that major
# version (made by test/chroot.sh with mmdebstrap on first use, kept in
# /var/tmp/pgscale-chroot-SUITE and reused), on a copy of this tree; the
# extension is installed into the chroot's PostgreSQL there.
#
# Suites: regress (sql/*.sql, expected/*.out), isolation (test/specs/*.spec,
# test/expected/*.out), pgtap (test/pgtap/*.sql), tap (test/t/*.pl).
# A suite with no files is skipped and counts as 0.
#
# Counted: each pg_regress and isolation test, each TAP assertion ("ok N" /
# "not ok N"; a TODO failure counts as passed), and one failure for a TAP or
# pgTAP file that fails without a "not ok" line (died, wrong plan), for a
# suite whose cluster did not come up, and for a failed build.
#
# pgTAP files get a fresh database each, in which this runner has already
# run CREATE EXTENSION pgtap; CREATE EXTENSION pgscale; (in schema public).
#
# Runs as root on Debian 12 (installs missing packages with apt-get); the
# clusters run as the postgres user.  Environment: PGS_PGVERSION (another
# installed PostgreSQL major version), PGS_DESTDIR (install into a staging
# directory instead of the system, see test/lib.sh), PGS_TEST_TIMEOUT
# (seconds for a pg_regress or isolation run or one pgTAP or TAP file; 600).
set -uo pipefail

# --pg VERSION and --fresh-chroot are taken out here; every other argument
# goes to the run of each version (so options this part does not know pass
# through to the run inside a chroot).
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

# Longest a pg_regress or isolation run, or one pgTAP or TAP file, may take.
TIMEOUT=${PGS_TEST_TIMEOUT:-600}
PASSED=0
FAILED=0
SUMMARY=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-tests.XXXXXX") || exit 1
chmod 755 "$WORK"
pgs_at_exit "rm -rf $(printf %q "$WORK")"

# Record the result of a suite.
tally() {
	local suite=$1 pass=$2 fail=$3
	PASSED=$((PASSED + pass))
	FAILED=$((FAILED + fail))
	SUMMARY+=("$(printf '%-10s %4d passed, %d failed' "$suite:" "$pass" "$fail")")
	printf -- '--- %s: %d passed, %d failed\n' "$suite" "$pass" "$fail"
}

# Print the end of the summary and exit with the right status.
finish() {
	local line
	echo
	echo "=== summary"
	for line in "${SUMMARY[@]}"; do
		echo "$line"
	done
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}

# Show a file (a diff, a log) with a heading, cut after 400 lines.
show() {
	local file=$1 lines
	[ -s "$file" ] || return 0
	lines=$(wc -l <"$file")
	echo "------ $file"
	head -n 400 "$file"
	[ "$lines" -gt 400 ] && echo "------ ($((lines - 400)) more lines in $file)"
	echo "------"
}

# Count TAP assertions in the output of one file: sets TAP_PASS, TAP_FAIL.
# A file that failed ($2 non-zero) without any "not ok" line is one failure.
tap_count() {
	local out=$1 rc=$2
	TAP_PASS=$(grep -cE '^ok [0-9]+|^not ok [0-9]+.*# *TODO' "$out")
	TAP_FAIL=$(grep -E '^not ok [0-9]+' "$out" | grep -cvE '# *TODO')
	if [ "$rc" -ne 0 ] && [ "$TAP_FAIL" -eq 0 ]; then
		TAP_FAIL=1
	fi
}

# Count pg_regress results (PostgreSQL 15's "test x ... ok" format and the
# TAP format of 16 and later): sets REG_PASS, REG_FAIL.
regress_count() {
	local out=$1
	REG_PASS=$(grep -cE '^(test +|     +)?[^ ]+ +\.\.\. ok( |$)|^ok [0-9]+ ' "$out")
	REG_FAIL=$(grep -cE '^(test +|     +)?[^ ]+ +\.\.\. (FAILED|failed)|^not ok [0-9]+ ' "$out")
}

want() {
	[ ${#SUITES[@]} -eq 0 ] && [ ${#ONLY[@]} -eq 0 ] && return 0
	local s
	for s in "${SUITES[@]}"; do
		[ "$s" = "$1" ] && return 0
	done
	[ ${#ONLY[@]} -gt 0 ] && [ ${#SUITES[@]} -eq 0 ] && [ -n "$(only_files "$1")" ] && return 0
	return 1
}

# The files of a suite named on the command line, one per line (none: all).
only_files() {
	local f
	for f in "${ONLY[@]}"; do
		case $1:$f in
		regress:sql/*.sql | isolation:test/specs/*.spec | pgtap:test/pgtap/*.sql | tap:test/t/*.pl)
			echo "$f"
			;;
		esac
	done
}

# Whether a file of a suite is to run: all of them, unless files were named.
want_file() {
	local suite=$1 file=$2
	[ -z "$(only_files "$suite")" ] && return 0
	only_files "$suite" | grep -qxF "$file"
}

#
# pg_regress and isolation: make installcheck inside pg_virtualenv, with
# pgscale preloaded.  The two run one after the other in the same cluster
# (each in its own database), so that a failure of one still runs the other.
#
suite_installcheck() {
	local -a regress=() isolation=()
	local f rc
	for f in sql/*.sql; do
		case $(basename "$f") in pgscale--*) ;; *) [ -f "$f" ] && want_file regress "$f" && regress+=("$f") ;; esac
	done
	for f in test/specs/*.spec; do
		[ -f "$f" ] && want_file isolation "$f" && isolation+=("$f")
	done
	want regress || regress=()
	want isolation || isolation=()
	if want regress && [ ${#regress[@]} -eq 0 ]; then
		pgs_say "regress: no sql/*.sql tests, skipped"
		tally regress 0 0
	fi
	if [ ${#regress[@]} -eq 0 ] && [ ${#isolation[@]} -eq 0 ]; then
		skip_isolation
		return
	fi

	pgs_say "regress (${#regress[@]} tests) and isolation (${#isolation[@]} specs): make installcheck under pg_virtualenv"
	rm -rf results output_iso regression.diffs regression.out
	# The inner script runs in the cluster's environment (PGHOST, PGPORT...).
	# The fixtures remove most of their rows: the blast-radius limit is off
	# but for sql/guard.sql, which sets it per session.
	# shellcheck disable=SC2016
	pgs_virtualenv -o shared_preload_libraries=pgscale -o pgscale.max_delete_fraction=1 \
		bash -c '
		set -o pipefail
		trap "exit 130" INT
		trap "exit 143" TERM
		if [ "$2" -gt 0 ]; then
			echo "--- pg_regress"
			timeout -k 10 "$4" make -s installcheck TAP_TESTS= ISOLATION= REGRESS="$5" 2>&1 |
				tee "$1/regress.out"
			echo $? >"$1/regress.rc"
		fi
		if [ "$3" -gt 0 ]; then
			echo "--- isolation"
			timeout -k 10 "$4" make -s installcheck TAP_TESTS= REGRESS= ISOLATION="$6" 2>&1 |
				tee "$1/isolation.out"
			echo $? >"$1/isolation.rc"
		fi
		# Keep the server log, which pg_virtualenv removes with the cluster.
		cp "${PG_CLUSTER_CONF_ROOT%/postgresql}"/log/*.log "$1/server.log"
		true' installcheck "$WORK" "${#regress[@]}" "${#isolation[@]}" "$TIMEOUT" \
		"$(names "${regress[@]}")" "$(names "${isolation[@]}")"
	rc=$?
	pgs_log_crashes "$WORK/server.log"

	if [ ${#regress[@]} -gt 0 ]; then
		if [ -f "$WORK/regress.rc" ]; then
			regress_count "$WORK/regress.out"
			if [ "$(cat "$WORK/regress.rc")" != 0 ]; then
				show regression.diffs
				[ "$REG_FAIL" -eq 0 ] && REG_FAIL=1
			fi
			tally regress "$REG_PASS" "$REG_FAIL"
		else
			echo "regress: did not run (pg_virtualenv exited with $rc)"
			tally regress 0 1
		fi
	fi
	if [ ${#isolation[@]} -gt 0 ]; then
		if [ -f "$WORK/isolation.rc" ]; then
			regress_count "$WORK/isolation.out"
			if [ "$(cat "$WORK/isolation.rc")" != 0 ]; then
				show output_iso/regression.diffs
				[ "$REG_FAIL" -eq 0 ] && REG_FAIL=1
			fi
			tally isolation "$REG_PASS" "$REG_FAIL"
		else
			echo "isolation: did not run (pg_virtualenv exited with $rc)"
			tally isolation 0 1
		fi
	fi
	skip_isolation
}

# The test names of some files: sql/a.sql test/specs/b.spec -> "a b".
names() {
	local f out=()
	for f in "$@"; do
		f=$(basename "$f")
		out+=("${f%.*}")
	done
	echo "${out[*]}"
}

skip_isolation() {
	if want isolation && ! compgen -G 'test/specs/*.spec' >/dev/null; then
		pgs_say "isolation: no test/specs/*.spec, skipped"
		tally isolation 0 0
	fi
}

#
# pgTAP: pg_prove over each file, each in a fresh database that already has
# pgtap and pgscale, in one throwaway cluster with pgscale preloaded.
#
suite_pgtap() {
	local -a files=()
	local f i=0 db out rc pass=0 fail=0
	for f in test/pgtap/*.sql; do
		[ -f "$f" ] && want_file pgtap "$f" && files+=("$f")
	done
	if [ ${#files[@]} -eq 0 ]; then
		pgs_say "pgtap: no test/pgtap/*.sql, skipped"
		tally pgtap 0 0
		return
	fi

	pgs_say "pgtap (${#files[@]} files): pg_prove, one fresh database per file"
	if ! pgs_cluster_start shared_preload_libraries=pgscale pgscale.max_delete_fraction=1; then
		tally pgtap 0 1
		return
	fi
	for f in "${files[@]}"; do
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
		PATH=$PGS_BINDIR:$PATH timeout -k 10 "$TIMEOUT" pg_prove -v -d "$db" "$f" >"$out" 2>&1
		rc=$?
		[ "$rc" = 124 ] && echo "$f: timed out after $TIMEOUT s" >>"$out"
		cat "$out"
		tap_count "$out" "$rc"
		pass=$((pass + TAP_PASS))
		fail=$((fail + TAP_FAIL))
		psql -X -q -d postgres -c "DROP DATABASE $db WITH (FORCE)"
	done
	pgs_log_crashes "$PGS_CLUSTER_DIR/server.log"
	pgs_cluster_stop
	tally pgtap "$pass" "$fail"
}

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

#
# TAP: prove over each file as the postgres user, on PostgreSQL::Test::Cluster
# (each test makes and removes its own clusters), in a copy of the tree that
# postgres can write to.
#
suite_tap() {
	local -a files=()
	local f copy out rc pass=0 fail=0 perldir log setting
	for f in test/t/*.pl; do
		[ -f "$f" ] && want_file tap "$f" && files+=("$f")
	done
	if [ ${#files[@]} -eq 0 ]; then
		pgs_say "tap: no test/t/*.pl, skipped"
		tally tap 0 0
		return
	fi

	pgs_say "tap (${#files[@]} files): prove on PostgreSQL::Test::Cluster, as postgres"
	perldir=$("$PG_CONFIG" --pgxs)
	perldir=${perldir%/src/makefiles/pgxs.mk}
	copy=$(mktemp -d "${TMPDIR:-/tmp}/pgscale-tap.XXXXXX") || return 1
	pgs_at_exit "tap_cleanup $(printf %q "$copy")"
	tar -C "$PGS_ROOT" --exclude=./.git -cf - . | tar -C "$copy" -xf -
	# With PGS_DESTDIR, every node must load pgscale from there.
	: >"$copy/tap_extra.conf"
	while IFS= read -r setting; do
		pgs_conf_line "$setting" >>"$copy/tap_extra.conf"
	done < <(pgs_destdir_settings)
	[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$copy"
	chmod 755 "$copy"

	for f in "${files[@]}"; do
		out=$WORK/tap_$(basename "$f" .pl).out
		pgs_as_postgres timeout -k 10 "$TIMEOUT" env -C "$copy" \
			PATH="$PGS_BINDIR:$PATH" \
			PERL5LIB="$perldir/src/test/perl${PERL5LIB:+:$PERL5LIB}" \
			PG_REGRESS="$perldir/src/test/regress/pg_regress" \
			TESTDIR="$copy" PG_CONFIG="$PG_CONFIG" \
			TEMP_CONFIG="$copy/tap_extra.conf" \
			prove -v "$f" >"$out" 2>&1
		rc=$?
		[ "$rc" = 124 ] && echo "$f: timed out after $TIMEOUT s" >>"$out"
		cat "$out"
		tap_count "$out" "$rc"
		pass=$((pass + TAP_PASS))
		fail=$((fail + TAP_FAIL))
		if [ "$rc" -ne 0 ]; then
			log=$copy/tmp_check/log/regress_log_$(basename "$f" .pl)
			[ -f "$log" ] && echo "------ end of $log" && tail -n 60 "$log"
		fi
	done
	tap_cleanup "$copy"
	tally tap "$pass" "$fail"
}

# Run this script with the arguments for one major version: here for 15,
# in its chroot otherwise (pgs_run_in_chroot, test/lib.sh).
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

# --pg all: each version in turn, its closing line kept, then the sum.
run_all() {
	local v out rc line pass fail total_pass=0 total_fail=0 start
	local -a lines=()
	for v in 15 17 18; do
		start=$SECONDS
		out=$WORK/pg$v.out
		run_version "$v" "$@" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
		if [ -n "$line" ]; then
			pass=${line%% passed*}
			fail=${line#*passed, }
			fail=${fail%% failed}
		else
			pass=0 fail=1
		fi
		[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
		total_pass=$((total_pass + pass))
		total_fail=$((total_fail + fail))
		lines+=("$(printf 'PostgreSQL %s: %d passed, %d failed (%d s)' "$v" "$pass" "$fail" $((SECONDS - start)))")
	done
	echo
	echo "=== all versions"
	for line in "${lines[@]}"; do
		echo "$line"
	done
	echo "$total_pass passed, $total_fail failed"
	[ "$total_fail" -eq 0 ]
	exit
}

case $PG in
17 | 18)
	run_version "$PG" "$@"
	exit
	;;
all) run_all "$@" ;;
esac

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

START=$SECONDS
pgs_install_deps || pgs_die "could not install the packages the tests need"

pgs_say "build: make WERROR=1 && make install"
if ! pgs_build >"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"
	echo "build failed: no suite can run"
	tally build 0 1
	finish
fi
echo "built and installed${PGS_DESTDIR:+ into $PGS_DESTDIR}"

# From here on, every server and client runs on the faked clock.
if [ -n "$FAKE_DATE" ]; then
	pgs_fake_clock "$FAKE_DATE" || pgs_die "could not fake the clock"
fi

if want regress || want isolation; then
	suite_installcheck
fi
want pgtap && suite_pgtap
want tap && suite_tap

echo
echo "(took $((SECONDS - START)) s)"
finish
