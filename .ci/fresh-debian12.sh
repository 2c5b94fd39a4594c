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

# test/chroot.sh makes the chroot (the same script makes the test run's 17
# and 18 chroots), clones HEAD into a directory of its own under /root and runs the command there
# with private /proc, /dev, /sys, /tmp and /run, in its own PID namespace.
exec "$ROOT/test/chroot.sh" --dir "$CHROOT" ${FRESH:+--fresh} --clone "$ROOT" \
	--setenv CI=true bookworm bash -c "$COMMAND"
