#!/usr/bin/env bash
# Installs the Debian packages caisson builds, tests and benchmarks with.
# Idempotent and silent when everything is present; the only place that names them.
set -euo pipefail

build=(g++ cmake make pkg-config libseccomp-dev libcap-dev nlohmann-json3-dev
       libtomlplusplus-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
       libmnl-dev iproute2 uidmap)
bench=(bubblewrap hyperfine)

want=("${build[@]}")
[ "${1:-}" = "--bench" ] && want+=("${bench[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
