#!/bin/bash
# test/chroot.sh: make a minimal Debian chroot with mmdebstrap (on first use)
# and run a command in it as root, with its own /proc, /dev, /dev/shm, /sys,
# /tmp and /run.  The one place that makes chroots: the test runner's
# --pg 17 (trixie) and --pg 18 (sid), .ci/fresh-debian12.sh (bookworm) and
# the benchmarks all call it.
#
#     test/chroot.sh [options] SUITE [command ...]
#
#     --fresh            remove the chroot and make it again first
#     --include PKGS     packages (comma- or space-separated) to put in when
#                        the chroot is made, and to apt-get into an existing
#                        one that lacks them
#     --copy DIR         copy DIR (without .git) to /root/pgscale.XXXXXX in
#                        the chroot, the command's working directory
#                        (removed at the end)
#     --clone DIR        same with a git clone of DIR's committed HEAD
#     --setenv VAR=VAL   set a variable for the command (repeatable)
#     --dir PATH         the chroot (default /var/tmp/pgscale-chroot-SUITE)
#
# Without a command it only makes the chroot.  The command runs under
# env -i (PATH, HOME, TERM, LANG and the --setenv variables), without stdin,
# in a new mount and PID namespace: every mount made here goes away and
# every process left in the chroot is killed when the command ends, also on
# failure or Ctrl-C.  The exit status is the command's.
#
# sid's Release file may be past its Valid-Until date, so apt in a sid
# chroot is told not to check it.  Environment: PGS_MIRROR (the Debian
# mirror).  The chroots are kept outside the repository for the next run;
# remove one with rm -rf or rebuild it with --fresh.
set -euo pipefail

FRESH=
INCLUDE=
COPY=
CLONE=
DIR=
ENVS=()
while [ $# -gt 0 ]; do
	case $1 in
	--fresh) FRESH=1 ;;
	--include) INCLUDE="$INCLUDE,${2//[ ]/,}" && shift ;;
	--copy) COPY=$2 && shift ;;
	--clone) CLONE=$2 && shift ;;
	--setenv) ENVS+=("$2") && shift ;;
	--dir) DIR=$2 && shift ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) echo "test/chroot.sh: unknown option $1" >&2 && exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] || { echo "usage: test/chroot.sh [options] SUITE [command ...]" >&2 && exit 2; }
SUITE=$1
shift
DIR=${DIR:-/var/tmp/pgscale-chroot-$SUITE}
MIRROR=${PGS_MIRROR:-http://deb.debian.org/debian}
INCLUDE=${INCLUDE#,}

[ "$(id -u)" = 0 ] || { echo "test/chroot.sh: run as root" >&2 && exit 1; }

# The archive's lines and apt options for a suite.
SOURCES=("deb $MIRROR $SUITE main")
APTOPTS=()
case $SUITE in
sid | unstable)
	APTOPTS=(--aptopt='Acquire::Check-Valid-Until "false"')
	;;
*)
	SOURCES+=("deb $MIRROR $SUITE-updates main"
		"deb ${MIRROR%/debian}/debian-security $SUITE-security main")
	;;
esac

[ -n "$FRESH" ] && rm -rf "$DIR"
if [ ! -x "$DIR/bin/bash" ] || [ ! -f "$DIR/.pgscale-chroot-done" ]; then
	command -v mmdebstrap >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap </dev/null
	rm -rf "$DIR"
	echo "test/chroot.sh: making the $SUITE chroot in $DIR"
	started=$SECONDS
	mmdebstrap --variant=minbase --mode=root "${APTOPTS[@]}" \
		--include="ca-certificates${INCLUDE:+,$INCLUDE}" \
		"$SUITE" "$DIR" "${SOURCES[@]}"
	# Kept in the chroot, so that apt-get inside it works the same later.
	if [ ${#APTOPTS[@]} -gt 0 ]; then
		echo 'Acquire::Check-Valid-Until "false";' >"$DIR/etc/apt/apt.conf.d/99pgscale-valid-until"
	fi
	touch "$DIR/.pgscale-chroot-done"
	echo "test/chroot.sh: $SUITE chroot made in $((SECONDS - started)) s"
fi
[ $# -gt 0 ] || exit 0
cp /etc/resolv.conf "$DIR/etc/resolv.conf"

# Run a command in the chroot with private mounts of its own /proc, /dev,
# /dev/shm, /sys, /tmp and /run, and private PIDs; the namespace takes the
# mounts and the processes with it.  Package scripts need them too (sid's
# postgresql-common runs systemd-tmpfiles, which fails without /proc).
in_chroot() {
	# shellcheck disable=SC2016  # expanded by the inner bash
	unshare --mount --pid --fork --propagation private bash -c '
		set -e
		R=$1
		shift
		mount -t proc proc "$R/proc"
		mount --rbind /dev "$R/dev"
		mount -t tmpfs tmpfs "$R/dev/shm"
		mount -t sysfs sys "$R/sys"
		mount -t tmpfs tmpfs "$R/tmp"
		mount -t tmpfs tmpfs "$R/run"
		exec chroot "$R" "$@" </dev/null
	' chroot.sh "$DIR" "$@"
}

# Packages asked for that an older chroot lacks.
if [ -n "$INCLUDE" ]; then
	missing=()
	for pkg in ${INCLUDE//,/ }; do
		# shellcheck disable=SC2016  # a dpkg-query format, not an expansion
		[ "$(chroot "$DIR" dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ] ||
			missing+=("$pkg")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "test/chroot.sh: installing ${missing[*]} in $DIR"
		# (dpkg --configure -a first: an install cut short leaves packages
		# unpacked but not configured)
		in_chroot /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
			sh -c 'dpkg --configure -a && apt-get update -q &&
				apt-get install -y -q --no-install-recommends "$@"' \
			apt "${missing[@]}"
	fi
fi

# The copy gets a directory of its own, removed at the end, so that runs of
# several checkouts can share a chroot at once.
WORKDIR=/root
if [ -n "$COPY" ] || [ -n "$CLONE" ]; then
	WORK=$(mktemp -d "$DIR/root/pgscale.XXXXXX")
	chmod 755 "$WORK"
	trap 'rm -rf "$WORK"' EXIT
	WORKDIR=/root/${WORK##*/}
	if [ -n "$CLONE" ]; then
		git clone -q "$CLONE" "$WORK"
		git -C "$WORK" checkout -q "$(git -C "$CLONE" rev-parse HEAD)"
	else
		tar -C "$COPY" --exclude=./.git --exclude=./results --exclude=./output_iso \
			--exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . |
			tar -C "$WORK" -xf -
	fi
fi

# shellcheck disable=SC2016  # expanded by the inner bash
in_chroot /usr/bin/env -i \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 "${ENVS[@]}" \
	bash -c 'cd "$1" && shift && exec "$@"' chroot-cmd "$WORKDIR" "$@"
