#!/usr/bin/env bash
# Runs one sandbox and shows, from inside, what it isolates; then shows that the write it
# made through the overlay is gone.
set -euo pipefail
caisson=${1:-build/caisson}
marker=/var/tmp/caisson-demo-$$

echo "\$ caisson run --overlay -- /bin/sh -c '...'"
"$caisson" run --overlay --hostname demo-sandbox -- /bin/sh -c "
echo \"pid:        \$\$ (PID 1 is caisson's init)\"
echo \"hostname:   \$(hostname)\"
echo \"interfaces: \$(ls /sys/class/net | tr '\n' ' ')\"
echo \"uid inside: \$(id -u), mapped to host uid \$(awk '{print \$2}' /proc/self/uid_map)\"
echo \"caps:       \$(grep CapEff /proc/self/status | cut -f2)\"
if echo x 2>/dev/null > /proc/sys/kernel/hostname; then echo '/proc/sys:  WRITABLE'; else echo '/proc/sys:  read-only'; fi
echo 'written through the overlay' > $marker && echo \"overlay:    wrote $marker: \$(cat $marker)\"
"
echo
if [ -e "$marker" ]; then
  echo "host: $marker EXISTS (the overlay leaked)"; exit 1
else
  echo "host: $marker does not exist: the write stayed in the sandbox's overlay and is gone"
fi
echo
echo "\$ caisson run -- touch /etc/caisson-demo   (the host's files, read-only)"
"$caisson" run -- /usr/bin/touch /etc/caisson-demo || true
echo
echo "\$ caisson run -- ls -A /root /home   (the homes, with their keys and credentials, are empty)"
"$caisson" run -- /bin/ls -A /root /home || true
echo
echo "\$ caisson run -- unshare -U true   (the default seccomp policy refuses new namespaces)"
"$caisson" run -- /usr/bin/unshare -U /bin/true || true
echo
echo "\$ caisson run --memory 32M --pids 16 --report R -- sh -c '40 background jobs'   (cgroups: at most 16 tasks)"
report=$(mktemp /tmp/caisson-demo-report-XXXXXX)
"$caisson" run --memory 32M --pids 16 --time-limit 5 --report "$report" -- /bin/sh -c \
  'for i in $(seq 40); do sleep 1 & done 2>/dev/null; wait' 2>/dev/null || true
grep -o '"pids_peak": [0-9]*' "$report" | sed 's/^/report: /'
rm -f "$report"
echo
echo "\$ caisson policy check default"
"$caisson" policy check default | head -n 3
