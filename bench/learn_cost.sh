#!/usr/bin/env bash
# Learn mode's cost on a system-call-heavy program (find /usr: about 274,000 calls, 18,000
# opens): the program alone, learned as root (the kernel counts the calls; opens, connect,
# bind and sendto are notifications), and learned as an ordinary user (every call is a
# notification); medians of ROUNDS, --no-verify.
#   bench/learn_cost.sh CAISSON [ROUNDS]
set -euo pipefail
caisson=$(readlink -f "$1")
rounds=${2:-3}
tmp=$(mktemp -d /tmp/caisson-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chown 65534:65534 "$tmp"
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'; }
declare -A got
for _ in $(seq "$rounds"); do
  got[bare]+="$(secs find /usr) "
  got[root]+="$(secs "$caisson" learn --no-verify --output "$tmp/root.toml" -- /usr/bin/find /usr) "
  got[user]+="$(secs setpriv --reuid 65534 --regid 65534 --clear-groups "$caisson" learn --no-verify --output "$tmp/user.toml" -- /usr/bin/find /usr) "
done
m() { echo ${got[$1]} | tr ' ' '\n' | median; }
printf "%-52s %10s %8s\n" "find /usr" "seconds" "x bare"
row() { printf "%-52s %10.2f %8.1f\n" "$1" "$(m "$2")" "$(echo "$(m "$2") $(m bare)" | awk '{print $1 / $2}')"; }
row "unsandboxed" bare
row "caisson learn as root (counted in the kernel)" root
row "caisson learn as a user (every call notified)" user
