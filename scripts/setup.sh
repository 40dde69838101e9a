#!/usr/bin/env bash
# Installs the Debian packages caisson builds, tests and benchmarks with.
# Idempotent and silent when everything is present; the only place that names them.
set -euo pipefail

# What building caisson and running the demo need (`make demo`); the rest only the tests,
# the benchmarks and the fuzzers need, and each of those asks for its own.
build=(g++ cmake make pkg-config libseccomp-dev libcap-dev nlohmann-json3-dev
       libtomlplusplus-dev libcli11-dev libmnl-dev libnftables-dev iproute2 uidmap passt
       clang libbpf-dev libelf-dev zlib1g-dev  # the BPF LSM programs and their loader
       pybind11-dev python3-dev)               # the Python module
tests=(libgtest-dev libgmock-dev libbenchmark-dev
       curl git python3-pip openssl dnsmasq-base  # clients of the egress proxy, and the test host's resolver
       qemu-system-x86 busybox-static  # the guest that tests pure cgroup v2 (scripts/guest)
       apparmor                        # apparmor_parser, which loads the guest's test profile
       nftables)                       # nft, with which the leak checks look for tables left behind
# The OCI clients that drive caisson-oci in tests/oci/clients_test.cpp; the kubelet's side of
# containerd's CRI in tests/cri/pod_test.py (gRPC, the CRI's messages, exec's websocket, the
# pod network's CNI plugins).
check=(podman conmon catatonit containerd docker.io
       python3-grpcio python3-protobuf protobuf-compiler python3-websocket containernetworking-plugins)
bench=(bubblewrap hyperfine crun runc firejail gnuplot-nox podman conmon runsc)
fuzz=(clang libclang-rt-dev)
# The purpose-built guest kernel of --vm (scripts/vm-kernel.sh): Debian's kernel source and
# what building it takes.
vmkernel=(linux-source-6.12 patch bc flex bison libssl-dev libelf-dev lz4)

want=("${build[@]}")
case "${1:-}" in
  --demo) ;;
  --check) want+=("${tests[@]}" "${check[@]}") ;;
  --bench) want+=("${tests[@]}" "${bench[@]}" "${vmkernel[@]}") ;;
  --vm-kernel) want+=("${vmkernel[@]}") ;;
  --fuzz) want+=("${tests[@]}" "${fuzz[@]}") ;;
  *) want+=("${tests[@]}") ;;
esac
# The guest's kernel only for what runs the guest.
need_guest=1
case "${1:-}" in --demo|--vm-kernel) need_guest=0 ;; esac

# The guest's kernel: Debian's cloud kernel package, unpacked (not installed) into a cache.
guest_cache=/var/cache/caisson-guest
guest_kernel() {
  [ "$need_guest" -eq 1 ] || return 0
  # Debian's cloud kernel: the one scripts/vm-kernel.sh builds does not serve the test guest.
  [ -n "$(ls "$guest_cache"/*/boot/vmlinuz-* 2>/dev/null | grep -v -- '-caisson$' || true)" ] && return 0
  [ "$(id -u)" -eq 0 ] || { echo "setup: no guest kernel in $guest_cache (run as root to fetch it)" >&2; return 0; }
  local pkg
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  [ -n "$pkg" ] || { echo "setup: cannot name the cloud kernel package; guest tests will be skipped" >&2; return 0; }
  echo "setup: fetching $pkg for the test guest" >&2
  mkdir -p "$guest_cache/$pkg"
  (cd "$guest_cache" && apt-get download -qq "$pkg" 2>/dev/null && dpkg -x "$pkg"_*.deb "$pkg" && rm -f "$pkg"_*.deb) ||
    { rm -rf "${guest_cache:?}/$pkg"; echo "setup: could not fetch $pkg; guest tests will be skipped" >&2; }
}

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  guest_kernel
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
guest_kernel
