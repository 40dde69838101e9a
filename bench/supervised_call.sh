#!/usr/bin/env bash
# The cost of one system call (getppid) that caisson's supervisor decides (a [[supervise]]
# rule with a budget it never reaches), against the same call let through by the filter and
# unsandboxed; medians of ROUNDS runs of CALLS calls.
#   bench/supervised_call.sh CAISSON [CALLS] [ROUNDS]
set -euo pipefail
caisson=$(readlink -f "$1")
calls=${2:-50000}
rounds=${3:-5}
loop=$(dirname "$caisson")/bench/syscall_loop
tmp=$(mktemp -d /tmp/caisson-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf 'extends = "default"\n[[supervise]]\nsyscall = "getppid"\nmax = 1000000000000\n' > "$tmp/supervised.toml"
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
run_in() { "$caisson" run --ro-bind "$loop" /tmp/loop "$@" -- /tmp/loop "$calls"; }
declare -A got
for _ in $(seq "$rounds"); do
  got[bare]+="$("$loop" "$calls") "
  got[filtered]+="$(run_in) "
  got[supervised]+="$(run_in --seccomp "$tmp/supervised.toml") "
done
printf "%-40s %12s\n" "getppid()" "ns per call"
printf "%-40s %12.1f\n" "unsandboxed" "$(echo ${got[bare]} | tr ' ' '\n' | median)"
printf "%-40s %12.1f\n" "caisson, default filter" "$(echo ${got[filtered]} | tr ' ' '\n' | median)"
printf "%-40s %12.1f\n" "caisson, decided by the supervisor" "$(echo ${got[supervised]} | tr ' ' '\n' | median)"
