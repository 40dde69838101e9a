#!/usr/bin/env bash
# Starts that come alone: /bin/true started every GAP seconds (default 0.25), so that nothing
# a previous start left warm in the kernel helps the next one, as when a person or an agent
# starts one sandbox now and then. Back-to-back starts (bench/start_latency.sh) hide what such
# a start waits for: on a host whose memory and pids controllers are cgroup v1, joining them
# waits for an RCU grace period when no migration ran in the last one (docs/performance.md).
# Rounds alternate the tools; medians of each tool's wall times (date around each start).
#   bench/start_alone.sh CAISSON [RUNS] [ROUNDS] [GAP]
set -euo pipefail
caisson=$(readlink -f "$1")
runs=${2:-11}
rounds=${3:-3}
gap=${4:-0.25}
declare -A cmd=(
  [caisson]="$caisson run -- /bin/true"
  [caisson_noceil]="$caisson run --max-pids unlimited --max-memory unlimited -- /bin/true"
  [bwrap]="bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true"
)
order=(caisson caisson_noceil bwrap)
command -v bwrap >/dev/null || order=(caisson caisson_noceil)
declare -A got
for _ in $(seq "$rounds"); do
  for t in "${order[@]}"; do
    for _ in $(seq "$runs"); do
      s=$(date +%s%N); ${cmd[$t]} >/dev/null 2>&1; e=$(date +%s%N)
      got[$t]+="$(( (e - s) / 1000 )) "
      sleep "$gap"
    done
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ref=$(echo "${got[bwrap]:-${got[caisson_noceil]}}" | median)
printf "%-16s %10s %8s\n" tool median_ms x_ref
for t in "${order[@]}"; do
  m=$(echo "${got[$t]}" | median)
  printf "%-16s %10.2f %8.2f\n" "$t" "$(echo "$m / 1000" | bc -l)" "$(echo "$m / $ref" | bc -l)"
done
f=$(grep -o 'favordynmods' /proc/self/mountinfo | head -1 || true)
# From Linux 6.18 favordynmods, once set, switches migrations to a lock per process for good:
# the kernel says so when it is cleared again, and the wait is gone until reboot.
k=$(dmesg 2>/dev/null | grep -c 'per threadgroup rwsem mechanism' || true)
echo "(x_ref: against ${order[2]:-caisson_noceil}; cgroup2 favordynmods: ${f:+set}${f:-not set}$([ "${k:-0}" -gt 0 ] && echo ", but set earlier since boot: the kernel keeps it"))"
