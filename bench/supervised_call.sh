#!/usr/bin/env bash
# The cost of system calls that caisson's supervisor decides, against the same calls let
# through by the filter and unsandboxed; medians of ROUNDS runs of CALLS calls:
#   - getppid() let through by a [[supervise]] budget it never reaches (CONTINUE);
#   - getppid() refused by a [[supervise]] budget of 0 (an errno answer);
#   - open() of a file allowed by an [open] rule: resolved, decided and opened by the
#     opener inside the sandbox, installed in the caller with ADDFD (plus close()).
#   bench/supervised_call.sh CAISSON [CALLS] [ROUNDS]
set -euo pipefail
caisson=$(readlink -f "$1")
calls=${2:-50000}
rounds=${3:-5}
loop=$(dirname "$caisson")/bench/syscall_loop
tmp=$(mktemp -d /tmp/caisson-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf 'extends = "default"\n[[supervise]]\nsyscall = "getppid"\nmax = 1000000000000\n' > "$tmp/continued.toml"
printf 'extends = "default"\n[[supervise]]\nsyscall = "getppid"\nmax = 0\nthen = "errno(EPERM)"\n' > "$tmp/refused.toml"
printf 'extends = "default"\n[open]\ndefault = "allow"\n[[open.rule]]\npath = "/etc/shadow"\naction = "errno(EACCES)"\n' > "$tmp/open.toml"
file=/etc/hostname
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
run_in() { "$caisson" run --ro-bind "$loop" /tmp/loop "$@"; }
declare -A got
for _ in $(seq "$rounds"); do
  got[bare]+="$("$loop" "$calls") "
  got[filtered]+="$(run_in -- /tmp/loop "$calls") "
  got[continued]+="$(run_in --seccomp "$tmp/continued.toml" -- /tmp/loop "$calls") "
  got[refused]+="$(run_in --seccomp "$tmp/refused.toml" -- /tmp/loop "$calls") "
  got[open_bare]+="$("$loop" "$calls" "$file") "
  got[open_filtered]+="$(run_in -- /tmp/loop "$calls" "$file") "
  got[open_addfd]+="$(run_in --seccomp "$tmp/open.toml" -- /tmp/loop "$calls" "$file") "
done
m() { echo ${got[$1]} | tr ' ' '\n' | median; }
printf "%-52s %12s %8s\n" "call" "ns per call" "x bare"
row() { printf "%-52s %12.1f %8.1f\n" "$1" "$(m "$2")" "$(echo "$(m "$2") $(m "$3")" | awk '{print $1 / $2}')"; }
row "getppid(), unsandboxed" bare bare
row "getppid(), caisson, default filter" filtered bare
row "getppid(), decided by the supervisor: let through" continued bare
row "getppid(), decided by the supervisor: errno" refused bare
row "open()+close(), unsandboxed" open_bare open_bare
row "open()+close(), caisson, default filter" open_filtered open_bare
row "open()+close(), [open] rule: opener + ADDFD" open_addfd open_bare
