#!/bin/bash
# .ci/fresh-debian12.sh: run a command (default: bash .ci/run) the way CI
# does, as root on a fresh Debian 12 machine: in a minimal bookworm chroot
# made with mmdebstrap, on a clone of the committed HEAD, with no stdin.
# Nothing is installed on this machine except mmdebstrap; the chroot's
# processes live in their own PID namespace and end with the command.
#
#     .ci/fresh-debian12.sh                       # the test run
#     .ci/fresh-debian12.sh 'bash test/demo.sh'   # the demo
#     FRESH=1 .ci/fresh-debian12.sh               # rebuild the chroot first
#
# The chroot (1.7 GB once the packages are in) is kept in
# PGS_CHROOT=/var/tmp/pgscale-debian12 for the next run; remove it with
# rm -rf.  Without FRESH=1 a reused chroot already has the packages, so the
# apt-get path is only tested on the first run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHROOT=${PGS_CHROOT:-/var/tmp/pgscale-debian12}
COMMAND=${1:-bash .ci/run}
MIRROR=${PGS_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

if [ -n "${FRESH:-}" ]; then
	rm -rf "$CHROOT"
fi
if [ ! -x "$CHROOT/bin/bash" ]; then
	command -v mmdebstrap >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap </dev/null
	rm -rf "$CHROOT"
	mmdebstrap --variant=minbase --mode=root --include=ca-certificates bookworm "$CHROOT" \
		"deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
		"deb ${MIRROR%/debian}/debian-security bookworm-security main"
fi

# A fresh clone of what is committed, as CI gets it.
rm -rf "$CHROOT/root/pgscale"
git clone -q "$ROOT" "$CHROOT/root/pgscale"
git -C "$CHROOT/root/pgscale" checkout -q "$(git -C "$ROOT" rev-parse HEAD)"
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"

# Private mounts and PIDs: /proc, /dev, /sys, empty /tmp and /run; every
# process left in the chroot is killed when the command ends.
# shellcheck disable=SC2016  # expanded by the inner bash
exec unshare --mount --pid --fork bash -c '
	set -e
	R=$1
	mount -t proc proc "$R/proc"
	mount --rbind /dev "$R/dev"
	mount -t tmpfs tmpfs "$R/dev/shm"
	mount -t sysfs sys "$R/sys"
	mount -t tmpfs tmpfs "$R/tmp"
	mount -t tmpfs tmpfs "$R/run"
	exec chroot "$R" /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root CI=true TERM=dumb \
		bash -c "cd /root/pgscale && $2" </dev/null
' fresh-debian12 "$CHROOT" "$COMMAND"
