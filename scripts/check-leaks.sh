#!/usr/bin/env bash
# Runs after the whole test suite (a CTest fixture cleanup): nothing the suite started may
# remain on this machine.
set -u
# The directories every user shares keep the owner and mode they had when the suite began
# (suite.snapshot, a CTest fixture setup, wrote them to the file named): a test that chowned
# /tmp itself once handed its sticky bit's power to a test user.
#   check-leaks.sh --snapshot FILE    check-leaks.sh [FILE]
shared() { stat -c '%n %u:%g %a' / /tmp /var /var/tmp /run /dev/shm 2>/dev/null; }
if [ "${1:-}" = --snapshot ]; then shared > "$2"; exit; fi
fail=0
m=$(grep -ci caisson /proc/self/mountinfo)
[ "$m" -gt 0 ] && { echo "leak: $m mount(s) naming caisson"; grep -i caisson /proc/self/mountinfo; fail=1; }
c=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -iname '*caisson*' 2>/dev/null | wc -l)
[ "$c" -gt 0 ] && { echo "leak: $c cgroup(s) naming caisson"; fail=1; }
# pgrep refuses a pattern longer than the kernel's 15-character comm, so one name per call.
p=0
for name in caisson caisson-oci probe startbench pasta passt.avx2; do
  p=$((p + $(pgrep -x "$name" | wc -l)))
done
[ "$p" -gt 0 ] && { echo "leak: $p caisson/probe process(es)"; fail=1; }
s=$(find /run/caisson-oci -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
[ "$s" -gt 0 ] && { echo "leak: $s container state(s) under /run/caisson-oci"; fail=1; }
t=$(find /tmp -maxdepth 1 \( -name 'caisson-test-*' -o -name 'caisson-guest-*' -o -name 'caisson-pasta-*' \) | wc -l)
[ "$t" -gt 0 ] && { echo "leak: $t /tmp/caisson-{test,guest,pasta}-* entries"; fail=1; }
# veth networking: leases, bridges and host ends, NAT tables (and the tests' hosts).
l=$(find /run/caisson/net -type f 2>/dev/null | wc -l)
[ "$l" -gt 0 ] && { echo "leak: $l file(s) under /run/caisson/net"; fail=1; }
k=$(ls /sys/class/net | grep -cE '^(caisson|cstest|cth)|^cs[0-9a-f]{8}$')
[ "$k" -gt 0 ] && { echo "leak: $k network link(s): $(ls /sys/class/net | grep -E '^(caisson|cstest|cth)|^cs[0-9a-f]{8}$' | tr '\n' ' ')"; fail=1; }
f=$(nft list tables 2>/dev/null | grep -c ' caisson_')
[ "$f" -gt 0 ] && { echo "leak: $f nftables table(s) named caisson_*"; fail=1; }
if [ -n "${1:-}" ] && [ -f "$1" ]; then
  d=$(diff "$1" <(shared) | grep '^[<>]')
  [ -n "$d" ] && { echo "leak: a shared directory changed (before <, after >):"; echo "$d"; fail=1; }
fi
# Namespaces kept alive by a bind mount of an nsfs file.
n=$(grep -c ' nsfs ' /proc/self/mountinfo)
[ "$n" -gt 0 ] && { echo "leak: $n namespace(s) pinned by a mount"; fail=1; }
[ $fail -eq 0 ] && echo "no leaks: mounts, cgroups, processes, namespaces, /tmp, network, shared directories"
exit $fail
