#!/usr/bin/env bash
# What cgroups add to a start, side by side in one run: `caisson run -- /bin/true` without
# limits, with `--memory 256M --pids 64`, and `crun run` of a busybox bundle with the same
# limits (crun refuses this machine's hybrid layout, so it runs in a mount namespace where
# /sys/fs/cgroup/unified is unmounted, as ../shared/BASELINES.md describes). Rounds
# alternate; medians.
#   bench/cgroup_start.sh [CAISSON] [RUNS_PER_ROUND] [ROUNDS]
set -euo pipefail
caisson=$(readlink -f "${1:-build/caisson}")
runs=${2:-200}
rounds=${3:-3}
startbench=$(dirname "$caisson")/bench/startbench
[ -x "$startbench" ] || { echo "bench: build first (make build)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/caisson-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
order=(caisson caisson_limits)
declare -A cmds=(
  [caisson]="$caisson run -- /bin/true"
  [caisson_limits]="$caisson run --memory 256M --pids 64 -- /bin/true"
)
if command -v crun >/dev/null && [ -x /bin/busybox ]; then
  bundle=$tmp/bundle
  mkdir -p "$bundle/rootfs/bin"
  cp /bin/busybox "$bundle/rootfs/bin/"
  for l in true sh sleep; do ln -s busybox "$bundle/rootfs/bin/$l"; done
  (cd "$bundle" && crun spec)
  python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["linux"].setdefault("resources", {})["memory"] = {"limit": 256 << 20}
c["linux"]["resources"]["pids"] = {"limit": 64}
json.dump(c, open(p, "w"))
PY
  cat > "$tmp/crun.sh" <<SH
#!/bin/sh
umount /sys/fs/cgroup/unified 2>/dev/null
exec "$startbench" "\$@"
SH
  chmod +x "$tmp/crun.sh"
  order+=(crun_limits)
fi

for r in $(seq "$rounds"); do
  for t in "${order[@]}"; do
    if [ "$t" = crun_limits ]; then
      unshare -m --propagation private "$tmp/crun.sh" "$runs" 1 -- "$(command -v crun)" run -b "$bundle" caisson-bench >> "$tmp/$t"
    else
      # shellcheck disable=SC2086
      "$startbench" "$runs" 1 -- ${cmds[$t]} >> "$tmp/$t"
    fi
  done
done

median() { python3 -c "import json,statistics as s; print(s.median(json.loads(l)['median_ms'] for l in open('$1')))"; }
base=$(median "$tmp/caisson")
printf '%-16s %10s %12s\n' run median_ms vs_caisson
for t in "${order[@]}"; do
  m=$(median "$tmp/$t")
  python3 -c "print('%-16s %10.3f %+11.3f ms' % ('$t', $m, $m - $base))"
done
