#!/usr/bin/env bash
# OCI runtimes side by side on one busybox bundle (the same config.json for all, with
# memory and pids limits): caisson-oci, crun and runc (those installed).
#   run        `RUNTIME run` of /bin/true: create, start, wait and delete in one command
#   lifecycle  what containerd's shim does, one command each: create, start, kill, delete
#              (of /bin/sleep), in a shell script
#   podman     `podman run --rm` with each runtime (conmon, storage and network setup
#              included: the runtime's share of what a user waits for)
# crun refuses this machine's hybrid cgroup layout, so every runtime runs in a mount namespace
# where /sys/fs/cgroup/unified is unmounted (../shared/BASELINES.md). Rounds alternate between
# runtimes; medians over rounds, and each runtime's ratio to caisson-oci.
#   bench/oci_lifecycle.sh [CAISSON_OCI] [RUNS_PER_ROUND] [ROUNDS] [PODMAN_RUNS]
set -euo pipefail
oci=$(readlink -f "${1:-build/caisson-oci}")
runs=${2:-100}
rounds=${3:-3}
podman_runs=${4:-20}
startbench=$(dirname "$oci")/bench/startbench
[ -x "$startbench" ] && [ -x "$oci" ] || { echo "bench: build first (make build)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "bench: /bin/busybox is missing (busybox-static)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/caisson-bench-XXXXXX)
cleanup() {
  for rt in "${!bins[@]}"; do
    for id in $(ls "$tmp/root-$rt" 2>/dev/null); do "${bins[$rt]}" --root "$tmp/root-$rt" delete -f "$id" 2>/dev/null || true; done
  done
  if [ -n "${podman_dir:-}" ]; then
    $podman rm -af -t 0 >/dev/null 2>&1 || true
    $podman system reset -f >/dev/null 2>&1 || true
    grep -o " $tmp[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    # Podman's parent cgroup, when this run made it.
    [ -n "${had_libpod_parent:-}" ] || find /sys/fs/cgroup/*/libpod_parent -depth -type d -exec rmdir {} + 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
declare -A bins=([caisson-oci]=$oci)
trap cleanup EXIT
order=(caisson-oci)
for rt in crun runc; do
  if command -v $rt >/dev/null; then bins[$rt]=$(command -v $rt); order+=("$rt"); fi
done

bundle=$tmp/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/"
for l in true sh sleep; do ln -s busybox "$bundle/rootfs/bin/$l"; done
(cd "$bundle" && "$oci" spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["ociVersion"] = "1.0.2"  # Debian 12's crun (1.8) refuses 1.2.0; every runtime reads 1.0.2
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["linux"].setdefault("resources", {})["memory"] = {"limit": 256 << 20}
c["linux"]["resources"]["pids"] = {"limit": 64}
json.dump(c, open(p, "w"))
PY
# The lifecycle bundle: the same config, a process that waits to be killed.
mkdir -p "$tmp/sleeper"
python3 - "$bundle" "$tmp/sleeper" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/config.json"))
c["process"]["args"] = ["/bin/sleep", "60"]
c["root"]["path"] = sys.argv[1] + "/rootfs"
json.dump(c, open(sys.argv[2] + "/config.json", "w"))
PY

for rt in "${order[@]}"; do
  mkdir -p "$tmp/root-$rt"
  cat > "$tmp/lifecycle-$rt.sh" <<SH
#!/bin/sh
set -e
r="${bins[$rt]} --root $tmp/root-$rt"
\$r create --bundle $tmp/sleeper --pid-file $tmp/pid-$rt lc >/dev/null
\$r start lc
\$r kill lc KILL
# delete refuses a container that is still stopping; each runtime waits on its own.
while ! \$r delete lc 2>/dev/null; do :; done
SH
  chmod +x "$tmp/lifecycle-$rt.sh"
done
cat > "$tmp/in-ns.sh" <<SH
#!/bin/sh
umount /sys/fs/cgroup/unified 2>/dev/null
exec "\$@"
SH
chmod +x "$tmp/in-ns.sh"

for r in $(seq "$rounds"); do
  for rt in "${order[@]}"; do
    unshare -m --propagation private "$tmp/in-ns.sh" "$startbench" "$runs" 1 -- \
      "${bins[$rt]}" --root "$tmp/root-$rt" run -b "$bundle" bench >> "$tmp/run-$rt"
    unshare -m --propagation private "$tmp/in-ns.sh" "$startbench" "$runs" 1 -- \
      /bin/sh "$tmp/lifecycle-$rt.sh" >> "$tmp/lifecycle-$rt"
  done
done

podman_order=()
if command -v podman >/dev/null && command -v conmon >/dev/null; then
  [ -d /sys/fs/cgroup/memory/libpod_parent ] && had_libpod_parent=yes
  podman_dir=$tmp/podman
  mkdir -p "$podman_dir/img"
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' > "$podman_dir/c.conf"
  podman="env CONTAINERS_CONF=$podman_dir/c.conf podman --root $podman_dir/storage --runroot $podman_dir/run --cgroup-manager cgroupfs"
  tar -C "$bundle/rootfs" -cf "$podman_dir/img.tar" .
  if $podman import "$podman_dir/img.tar" localhost/caisson-bench:latest >/dev/null 2>&1; then
    podman_order=("${order[@]}")
    for r in $(seq "$rounds"); do
      for rt in "${podman_order[@]}"; do
        # shellcheck disable=SC2086
        unshare -m --propagation private "$tmp/in-ns.sh" "$startbench" "$podman_runs" 1 -- \
          /usr/bin/env CONTAINERS_CONF="$podman_dir/c.conf" "$(command -v podman)" --root "$podman_dir/storage" \
          --runroot "$podman_dir/run" --cgroup-manager cgroupfs --runtime "${bins[$rt]}" \
          run --rm --network none localhost/caisson-bench:latest /bin/true >> "$tmp/podman-$rt"
      done
    done
  fi
fi

median() { python3 -c "import json,statistics as s; print(s.median(json.loads(l)['median_ms'] for l in open('$1')))"; }
failed() { python3 -c "import json; print(sum(json.loads(l)['failed'] for l in open('$1')))"; }
printf '%-10s %-12s %10s %12s %7s\n' what runtime median_ms vs_caisson failed
for what in run lifecycle podman; do
  list=("${order[@]}")
  [ "$what" = podman ] && list=("${podman_order[@]}")
  [ ${#list[@]} -gt 0 ] || continue
  base=$(median "$tmp/$what-caisson-oci")
  for rt in "${list[@]}"; do
    m=$(median "$tmp/$what-$rt")
    python3 -c "print('%-10s %-12s %10.2f %11.2fx %7d' % ('$what', '$rt', $m, $m / $base, $(failed "$tmp/$what-$rt")))"
  done
done
