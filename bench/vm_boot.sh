#!/usr/bin/env bash
# The virtualization rung, side by side in one run: boot-to-exit of /bin/true with
# `caisson run --vm` (qemu microvm; TCG where KVM cannot be used), `runsc do` (gVisor, the
# emulation rung, ptrace platform), and plain `caisson run`; rounds alternate, medians. Then
# the memory of a guest that waits: qemu's and virtiofsd's RSS, and the boot time the
# report gives.
#   bench/vm_boot.sh [CAISSON] [RUNS_PER_ROUND] [ROUNDS]
set -euo pipefail
caisson=$(readlink -f "${1:-build/caisson}")
runs=${2:-5}
rounds=${3:-3}
if ! "$caisson" doctor --json | python3 -c 'import json,sys; c=[c for c in json.load(sys.stdin)["checks"] if c["name"]=="caisson run --vm"]; sys.exit(0 if c and c[0]["status"]=="works" else 1)'; then
  echo "(caisson run --vm cannot run here: see caisson doctor)"; exit 0
fi
tmp=$(mktemp -d /tmp/caisson-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
order=(caisson_vm caisson)
declare -A cmds=([caisson_vm]="$caisson run --vm -- /bin/true" [caisson]="$caisson run -- /bin/true")
# The default guest kernel is the one scripts/vm-kernel.sh built where there is one; Debian's
# cloud kernel beside it, for comparison.
default_kernel=$("$caisson" doctor --json | python3 -c 'import json,sys; c=[c for c in json.load(sys.stdin)["checks"] if c["name"]=="caisson run --vm"]; print(c[0]["detail"])')
debian_kernel=$(ls /var/cache/caisson-guest/*/boot/vmlinuz-* 2>/dev/null | grep -v -- '-caisson$' | sort -V | tail -n 1 || true)
if [ -n "$debian_kernel" ] && [[ "$default_kernel" == *-caisson* ]]; then
  order+=(caisson_vm_debian)
  cmds[caisson_vm_debian]="$caisson run --vm --vm-kernel $debian_kernel -- /bin/true"
  "$caisson" run --vm --vm-kernel "$debian_kernel" -- /bin/true
fi
if command -v runsc >/dev/null; then
  order+=(runsc)
  cmds[runsc]="runsc --root $tmp/runsc --platform=ptrace --network=none do /bin/true"
fi
"$caisson" run --vm -- /bin/true  # a first boot, whose files come into the page cache

ms() {  # one run's wall time in ms
  local t0 t1
  t0=$(date +%s%N)
  $1 >/dev/null 2>&1 || { echo "bench: failed: $1" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 ))
}
for ((r = 0; r < rounds; r++)); do
  for t in "${order[@]}"; do
    for ((i = 0; i < runs; i++)); do echo "$t $(ms "${cmds[$t]}")" >> "$tmp/times"; done
  done
done

# The memory of a guest that waits for its input, and the report's boot time.
mkfifo "$tmp/in"
"$caisson" run --vm --report "$tmp/report.json" -- /bin/sh -c 'echo ready; read x' < "$tmp/in" > "$tmp/out" &
pid=$!
exec 4> "$tmp/in"
until grep -q ready "$tmp/out" 2>/dev/null; do sleep 0.05; done
mem() {  # RSS and PSS (kB) of a process named $1 beneath caisson
  local p
  p=$(pgrep -P "$(pgrep -P "$(pgrep -P "$pid" | head -1)" | head -1)" -x "$1" 2>/dev/null || pgrep -n -x "$1")
  echo "$(awk '/^VmRSS:/{print $2}' /proc/$p/status) $(awk '/^Pss:/{s+=$2} END{print s}' /proc/$p/smaps_rollup)"
}
read -r qrss qpss < <(mem qemu-system-x86)
read -r frss fpss < <(mem virtiofsd)
# And once the guest's balloon has reported the pages it freed after its boot (the kernel
# does so 2 s after they are freed): what a guest that keeps waiting holds.
sleep 3
read -r qrss2 _ < <(mem qemu-system-x86)
read -r frss2 _ < <(mem virtiofsd)
echo x >&4
exec 4>&-
wait "$pid"

python3 - "$tmp/times" "$tmp/report.json" "$qrss" "$qpss" "$frss" "$fpss" "$runs" "$rounds" "$qrss2" "$frss2" <<'PY'
import json, statistics, sys
times, report = sys.argv[1], json.load(open(sys.argv[2]))
qrss, qpss, frss, fpss = map(int, sys.argv[3:7])
by = {}
for line in open(times):
    t, us = line.split()
    by.setdefault(t, []).append(int(us) / 1000)
base = statistics.median(by["caisson_vm"])
print(f"boot to exit of /bin/true, {sys.argv[7]} runs x {sys.argv[8]} rounds, medians")
print(f"{'what':<52}{'median ms':>10}{'x --vm':>8}")
kernel = report['vm']['kernel'].rsplit('/', 1)[-1]
names = {"caisson_vm": f"caisson run --vm ({report['vm']['accel']}, {kernel})",
         "caisson_vm_debian": "the same, Debian's cloud kernel",
         "runsc": "runsc do (gVisor, ptrace platform)", "caisson": "caisson run (same kernel)"}
for t, v in by.items():
    m = statistics.median(v)
    print(f"{names[t]:<52}{m:>10.1f}{m / base:>8.2f}")
vm = report["vm"]
print(f"\nguest of {vm['memory_mb']} MB waiting for input: qemu RSS {qrss} kB (PSS {qpss}), virtiofsd RSS {frss} kB"
      f" (PSS {fpss}); together {qrss + frss} kB")
qrss2, frss2 = map(int, sys.argv[9:11])
print(f"3 s later, its freed pages reported: qemu RSS {qrss2} kB, virtiofsd RSS {frss2} kB; together {qrss2 + frss2} kB")
print(f"boot (qemu start to the guest's init): {vm['boot_ms']:.0f} ms of a {vm['wall_s'] * 1000:.0f} ms run")
PY
