#!/usr/bin/env bash
# Runs after the whole test suite (a CTest fixture cleanup): nothing the suite started may
# remain on this machine.
set -u
fail=0
m=$(grep -ci caisson /proc/self/mountinfo)
[ "$m" -gt 0 ] && { echo "leak: $m mount(s) naming caisson"; grep -i caisson /proc/self/mountinfo; fail=1; }
c=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -iname '*caisson*' 2>/dev/null | wc -l)
[ "$c" -gt 0 ] && { echo "leak: $c cgroup(s) naming caisson"; fail=1; }
p=$(pgrep -x 'caisson|probe|startbench' | wc -l)
[ "$p" -gt 0 ] && { echo "leak: $p caisson/probe process(es)"; pgrep -a -x 'caisson|probe'; fail=1; }
t=$(find /tmp -maxdepth 1 -name 'caisson-test-*' | wc -l)
[ "$t" -gt 0 ] && { echo "leak: $t /tmp/caisson-test-* entries"; fail=1; }
# Namespaces kept alive by a bind mount of an nsfs file.
n=$(grep -c ' nsfs ' /proc/self/mountinfo)
[ "$n" -gt 0 ] && { echo "leak: $n namespace(s) pinned by a mount"; fail=1; }
[ $fail -eq 0 ] && echo "no leaks: mounts, cgroups, processes, namespaces, /tmp"
exit $fail
