#!/usr/bin/env bash
# Network modes side by side (issue 9): the start of /bin/true with each --net mode against
# --net none (veth cold: the bridge and NAT are made and removed by each run; veth warm:
# another sandbox holds them), and a TCP transfer from a sandbox to a test host in a network
# namespace of its own (a veth pair away) through host, veth and user modes, both ways (up:
# the sandbox sends; down: it receives). pasta alone (its own namespace, /bin/true, stderr to
# /dev/null through sh) is the floor under --net user's start.
#   bench/net_modes.sh CAISSON [RUNS] [ROUNDS] [MIB]
set -euo pipefail
caisson=$(readlink -f "$1")
runs=${2:-100}
rounds=${3:-3}
mib=${4:-512}
build=$(dirname "$caisson")
startbench=$build/bench/startbench
blast=$build/bench/tcp_blast
[ "$(id -u)" -eq 0 ] || { echo "net_modes: needs root (veth mode, the test host)" >&2; exit 1; }

# The test host: a namespace held by a sleeping process, 10.232.200.2 behind a veth pair.
unshare --net sleep 3600 & holder=$!
cleanup() {
  ip link del cbn-h 2>/dev/null || true
  kill "$holder" "${warm:-}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do [ "$(readlink /proc/$holder/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.01; done
ip link add cbn-h type veth peer name cbn-p netns "$holder"
ip addr add 10.232.200.1/30 dev cbn-h && ip link set cbn-h up
nsenter -t "$holder" -n sh -c 'ip addr add 10.232.200.2/30 dev cbn-p; ip link set cbn-p up; ip link set lo up'

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
start_ms() { "$startbench" "$runs" 1 -- "$caisson" run "$@" -- /bin/true | sed -n 's/.*"median_ms": \([0-9.]*\).*/\1/p'; }

declare -A got
modes="none host user veth-cold veth-warm pasta-alone"
for r in $(seq "$rounds"); do
  for m in $modes; do
    case $m in
      veth-cold) got[$m]+="$(start_ms --net veth) " ;;
      veth-warm)
        "$caisson" run --net veth -- /bin/sleep 3600 & warm=$!
        for _ in $(seq 200); do [ -e /run/caisson/net/caisson0/lease-10.231.0.2 ] && break; sleep 0.01; done
        got[$m]+="$(start_ms --net veth) "
        kill "$warm"; wait "$warm" 2>/dev/null || true; warm= ;;
      pasta-alone)
        got[$m]+="$("$startbench" "$runs" 1 -- /bin/sh -c 'exec pasta --config-net --quiet --runas 0 -- /bin/true 2>/dev/null' |
          sed -n 's/.*"median_ms": \([0-9.]*\).*/\1/p') " ;;
      *) got[$m]+="$(start_ms --net "$m") " ;;
    esac
  done
done
none=$(echo ${got[none]} | tr ' ' '\n' | median)
printf "%-10s %10s %10s\n" mode "median ms" "over none"
for m in $modes; do
  v=$(echo ${got[$m]} | tr ' ' '\n' | median)
  printf "%-10s %10.2f %+10.2f\n" "$m" "$v" "$(echo "$v - $none" | bc -l)"
done

echo
printf "%-10s %10s %8s %10s %8s\n" "transfer" "up MiB/s" "ratio" "down MiB/s" "ratio"
# One transfer: MODE up|down; prints MiB/s.
blast_via() {
  local out
  if [ "$2" = up ]; then
    nsenter -t "$holder" -n "$blast" recv 10.232.200.2 5201 > "$tmpf" & local peer=$!
  else
    nsenter -t "$holder" -n "$blast" serve 10.232.200.2 5201 "$mib" > "$tmpf" & local peer=$!
  fi
  for _ in $(seq 200); do grep -q ready "$tmpf" && break; sleep 0.01; done
  local verb=send; [ "$2" = down ] && verb=fetch
  local args=("$verb" 10.232.200.2 5201); [ "$2" = up ] && args+=("$mib")
  if [ "$1" = bare ]; then out=$("$blast" "${args[@]}")
  else out=$("$caisson" run --net "$1" --ro-bind "$blast" /tmp/tcp_blast -- /tmp/tcp_blast "${args[@]}"); fi
  wait "$peer"
  if [ "$2" = up ]; then awk 'NR == 2 {print $2}' "$tmpf"; else echo "$out" | awk '{print $2}'; fi
}
tmpf=$(mktemp /tmp/caisson-bench-XXXXXX)
declare -A rate
for r in $(seq "$rounds"); do
  for m in bare host veth user; do
    for d in up down; do rate[$m-$d]+="$(blast_via "$m" "$d") "; done
  done
done
rm -f "$tmpf"
base_up=$(echo ${rate[bare-up]} | tr ' ' '\n' | median)
base_down=$(echo ${rate[bare-down]} | tr ' ' '\n' | median)
for m in bare host veth user; do
  u=$(echo ${rate[$m-up]} | tr ' ' '\n' | median)
  d=$(echo ${rate[$m-down]} | tr ' ' '\n' | median)
  printf "%-10s %10.0f %8.2f %10.0f %8.2f\n" "$m" "$u" "$(echo "$u / $base_up" | bc -l)" "$d" "$(echo "$d / $base_down" | bc -l)"
done
