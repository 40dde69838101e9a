#!/usr/bin/env bash
# Before `make check`: the tests run caisson, the probe and the plug-in worker as ordinary
# users (uid 4242, the tests' user, and 65534, which a root-run sandbox's ids and the worker
# are on the host), from this tree. A tree those users cannot reach, a clone under root's
# 0700 home say, would fail dozens of tests with an exit status of 251 and no reason; this
# says why at once, and which directory stops them.
#   scripts/check-reach.sh BUILD_DIR
set -euo pipefail
build=$(readlink -f "${1:?usage: check-reach.sh BUILD_DIR}")
source=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || exit 0  # as an ordinary user the tests that switch users skip
for uid in 4242 65534; do
  for f in "$build/caisson" "$source/profiles"; do
    if ! setpriv --reuid="$uid" --regid="$uid" --clear-groups test -r "$f" -a -x "$f" 2>/dev/null; then
      stop=$f
      d=$f
      while [ "$d" != / ]; do
        d=$(dirname "$d")
        setpriv --reuid="$uid" --regid="$uid" --clear-groups test -x "$d" 2>/dev/null || stop=$d
      done
      echo "make check: uid $uid cannot reach $f: $stop is $(stat -c '%A %U' "$stop"); the tests run caisson" \
           "as ordinary users from this tree, so put it where they can (a clone under /srv, /opt or /tmp)" >&2
      exit 1
    fi
  done
done
