#!/bin/sh
# Run in a qemu guest booted without Landlock (ctest guest.egress_without_landlock): the
# egress proxy's Landlock is best effort, so --allow-host still works there, confined by its
# filter, and the report says what did not hold.
#   egress_without_landlock.sh CAISSON
set -eu
caisson=$1
mkdir -p /etc
[ -e /etc/resolv.conf ] || echo "nameserver 127.0.0.1" > /etc/resolv.conf   # the guest's root is bare
[ -e /etc/hosts ] || echo "127.0.0.1 localhost" > /etc/hosts
"$caisson" run --allow-host localhost:80 --report /tmp/report.json -- /bin/true
grep -q '"seccomp egress-proxy"' /tmp/report.json || { echo "FAIL: no seccomp in the proxy's confinement"; cat /tmp/report.json; exit 1; }
grep -q '"not enforced: ' /tmp/report.json || { echo "FAIL: Landlock's absence not reported"; cat /tmp/report.json; exit 1; }
if grep -q '"landlock fs' /tmp/report.json; then echo "FAIL: Landlock reported where the kernel has none"; exit 1; fi
echo "ok: the proxy served without Landlock, with its filter, and said so"
