#!/usr/bin/env bash
# Start latency, side by side in one run: caisson against bubblewrap (and firejail when it is
# installed) and bare /bin/true. Rounds alternate between the tools so drift hits all alike;
# medians over all rounds. Also: starts per second with 2 parallel workers, and the
# supervisor's memory while its sandbox sleeps.
#   bench/start_latency.sh [CAISSON] [RUNS_PER_ROUND] [ROUNDS]
set -euo pipefail
caisson=$(readlink -f "${1:-build/caisson}")
runs=${2:-200}
rounds=${3:-5}
here=$(cd "$(dirname "$0")" && pwd)
startbench=$(dirname "$caisson")/bench/startbench
[ -x "$startbench" ] || { echo "bench: build first (make build)" >&2; exit 1; }

declare -A cmds=(
  [bare]="/bin/true"
  [caisson]="$caisson run -- /bin/true"
  # What the default ceilings cost (a cgroup for processes and memory, rlimits, the user
  # namespace's own counts): the same start with every one lifted.
  [caisson_noceil]="$caisson run --max-pids unlimited --max-memory unlimited --max-open-files unlimited --max-inotify-instances unlimited --max-inotify-watches unlimited -- /bin/true"
  [bwrap]="$(command -v bwrap) --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true"
  # The kernel's floor under both: util-linux's unshare making the same eight namespaces and
  # mounting a /proc, with no root of its own, no seccomp, no ceilings, no user switch.
  [unshare]="$(command -v unshare) --user --map-root-user --pid --fork --mount --uts --ipc --net --cgroup --time --mount-proc /bin/true"
)
order=(bare caisson caisson_noceil bwrap unshare caisson_pool)
# A warm pool (caisson pool) of the default policy: each run takes a sandbox built ahead of
# time. Fewer runs per round than the pool holds, and a pause after them so that its refill
# does not run beside the next tool's measurement.
pool_runs=40
pool_sock=$(mktemp -u /tmp/caisson-bench-pool-XXXXXX.sock)
"$caisson" pool --socket "$pool_sock" --size 48 2>/dev/null & pool_pid=$!
cmds[caisson_pool]="$caisson run --pool $pool_sock -- /bin/true"
if command -v firejail >/dev/null; then
  cmds[firejail]="$(command -v firejail) --noprofile --quiet /bin/true"; order+=(firejail)
fi

tmp=$(mktemp -d /tmp/caisson-bench-XXXXXX)
trap 'kill $pool_pid 2>/dev/null; wait $pool_pid 2>/dev/null; rm -rf "$tmp"' EXIT
while [ ! -S "$pool_sock" ]; do sleep 0.1; done
sleep 3  # the pool's first 48 sandboxes
for r in $(seq "$rounds"); do
  for t in "${order[@]}"; do
    n=$runs; [ "$t" = caisson_pool ] && n=$pool_runs
    # shellcheck disable=SC2086
    "$startbench" "$n" 1 -- ${cmds[$t]} >> "$tmp/$t.1"
    [ "$t" = caisson_pool ] && sleep 3
    # shellcheck disable=SC2086
    "$startbench" "$n" 2 -- ${cmds[$t]} >> "$tmp/$t.2"
    [ "$t" = caisson_pool ] && sleep 3
  done
done

median() { python3 -c "import json,sys,statistics as s; print(s.median(json.loads(l)['$2'] for l in open('$1')))"; }
# cpu_ms: user + system time of one start's whole process tree (wait4's rusage), median.
printf '%-15s %10s %8s %8s %8s %8s %8s %14s %14s %8s\n' tool median_ms p90_ms x_bare x_bwrap cpu_ms x_bwrap starts/s_1w starts/s_2w x_bwrap
base=$(median "$tmp/bare.1" median_ms); bw=$(median "$tmp/bwrap.1" median_ms); bwr=$(median "$tmp/bwrap.2" starts_per_s)
bwc=$(median "$tmp/bwrap.1" cpu_ms)
for t in "${order[@]}"; do
  m=$(median "$tmp/$t.1" median_ms); p90=$(median "$tmp/$t.1" p90_ms); c=$(median "$tmp/$t.1" cpu_ms)
  r1=$(median "$tmp/$t.1" starts_per_s); rate=$(median "$tmp/$t.2" starts_per_s)
  python3 -c "print('%-15s %10.3f %8.3f %8.2f %8.2f %8.3f %8.2f %14.1f %14.1f %8.2f' % ('$t', $m, $p90, $m/$base, $m/$bw, $c, $c/$bwc, $r1, $rate, $rate/$bwr))"
done

# Memory of the supervising processes while the sandbox sleeps.
rss() {  # pid -> "RSS_kB PSS_kB"
  echo "$(awk '/VmRSS/{print $2}' /proc/$1/status) $(awk '/^Pss:/{print $2}' /proc/$1/smaps_rollup)"
}
echo
echo "supervisor memory while the sandbox sleeps (kB):"
"$caisson" run -- /bin/sleep 2 & sup=$!
bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/sleep 2 & bsup=$!
sleep 1
init=$(cat /proc/$sup/task/$sup/children | awk '{print $1}')
binner=$(cat /proc/$bsup/task/$bsup/children | awk '{print $1}')
read -r a b <<<"$(rss $sup)"; read -r c d <<<"$(rss $init)"
echo "  caisson: supervisor RSS $a PSS $b; sandbox init RSS $c PSS $d; total RSS $((a + c))"
read -r a b <<<"$(rss $bsup)"; read -r c d <<<"$(rss $binner)"
echo "  bwrap:   outer RSS $a PSS $b; inner pid1 RSS $c PSS $d; total RSS $((a + c))"
wait $sup $bsup
# A ready sandbox of the pool: its worker (the supervisor to be) and its waiting init.
worker=$(cut -d' ' -f1 < /proc/$pool_pid/task/$pool_pid/children)
winit=$(cut -d' ' -f1 < /proc/$worker/task/$worker/children)
read -r a b <<<"$(rss $worker)"; read -r c d <<<"$(rss $winit)"
echo "  caisson pool, per ready sandbox: worker RSS $a PSS $b; waiting init RSS $c PSS $d; total PSS $((b + d))"
# The same pool from the library (caisson::run_in_pool, bench/pool_call.cpp): what a pooled
# start costs without the start of caisson's own executable, against a bare fork+exec of
# /bin/true interleaved with it in the same process.
pool_call=$(dirname "$caisson")/bench/pool_call
if [ -x "$pool_call" ]; then
  sleep 3
  "$pool_call" "$pool_sock" "$pool_runs" -- /bin/true > "$tmp/pool_call"
  python3 - "$tmp/pool_call" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print()
print("caisson pool from the library (run_in_pool), %d runs interleaved with bare ones:" % j["runs"])
print("  bare %.3f ms, run_in_pool %.3f ms: %.2fx bare" % (j["bare_ms"], j["run_in_pool_ms"], j["run_in_pool_ms"] / j["bare_ms"]))
PY
fi
