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
