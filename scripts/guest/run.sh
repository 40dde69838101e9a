#!/usr/bin/env bash
# Runs a program inside a qemu guest booted with pure cgroup v2 (cgroup_no_v1=all): what
# this host cannot give (its v2 hierarchy has no resource controllers), and, with
# --append "lsm=...,bpf", what needs a BPF LSM. Software emulation (q35): /dev/kvm here
# cannot boot Linux.
#   scripts/guest/run.sh [--with FILE]... [--append ARGS] [--env NAME=VALUE]... -- PROGRAM [ARGS...]
# The program, every --with file and their libraries are copied into the guest at their
# own absolute paths; the guest's root is a tmpfs. Exits with the program's status, or 77
# (CTest's "skipped") when there is no qemu or no guest kernel.
set -euo pipefail
cache=/var/cache/caisson-guest
extra_append=""
files=()
envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --with) files+=("$(readlink -f "$2")"); shift 2 ;;
    --append) extra_append="$2"; shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "guest: unexpected argument $1" >&2; exit 2 ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--with FILE]... [--append ARGS] -- PROGRAM [ARGS...]" >&2; exit 2; }
program=$(readlink -f "$1"); shift

qemu=$(command -v qemu-system-x86_64 || true)
# Debian's cloud kernel (the BPF LSM, AppArmor, modules): not the one built for --vm.
kernel=$(ls "$cache"/*/boot/vmlinuz-* 2>/dev/null | grep -v -- '-caisson$' | sort -V | tail -n 1 || true)
[ -n "$qemu" ] || { echo "guest: SKIPPED: no qemu-system-x86_64 (scripts/setup.sh installs it)"; exit 77; }
[ -n "$kernel" ] || { echo "guest: SKIPPED: no guest kernel under $cache (scripts/setup.sh downloads it)"; exit 77; }
busybox=/bin/busybox
case "$(ldd "$busybox" 2>&1 || true)" in
  *"not a dynamic"*) ;;
  *) echo "guest: SKIPPED: $busybox is not static (install busybox-static)"; exit 77 ;;
esac

stage=$(mktemp -d /tmp/caisson-guest-XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,proc,sys,dev,tmp,newroot}
cp "$busybox" "$stage/bin/busybox"

copy() {  # a file and the shared libraries it loads, at their own paths
  local f=$1
  mkdir -p "$stage$(dirname "$f")"
  cp -L "$f" "$stage$f"
  local libs
  libs=$(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true)  # none for a static program
  for lib in $libs; do
    [ -e "$stage$lib" ] && continue
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done
}
copy "$program"
for f in "${files[@]}"; do copy "$f"; done

# The guest's command line, quoted for its shell.
cmd=$(printf '%q ' "$program" "$@")
exports=""
for e in "${envs[@]}"; do exports+="export $(printf '%q' "$e"); "; done
cat > "$stage/init" <<'INIT'
#!/bin/busybox sh
# pivot_root cannot leave an initramfs: copy it onto a tmpfs and switch to that.
/bin/busybox mount -t tmpfs -o size=90% root /newroot
for d in /*; do
  case "$d" in /proc|/sys|/dev|/newroot) /bin/busybox mkdir -p "/newroot$d" ;; *) /bin/busybox cp -a "$d" /newroot/ ;; esac
done
exec /bin/busybox switch_root /newroot /stage2
INIT
cat > "$stage/stage2" <<STAGE2
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /tmp   # the root is a tmpfs already (and may hold the build under /tmp)
chmod 1777 /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security   # which LSMs run (BPF LSM tests)
echo "CAISSON-GUEST-START \$(cat /sys/fs/cgroup/cgroup.controllers)"
cd /tmp
$exports$cmd
echo "CAISSON-GUEST-EXIT=\$?"
poweroff -f
STAGE2
chmod +x "$stage/init" "$stage/stage2"
(cd "$stage" && find . | "$busybox" cpio -o -H newc 2>/dev/null) > "$stage.cpio"
trap 'rm -rf "$stage" "$stage.cpio"' EXIT

log="$stage.log"
trap 'rm -rf "$stage" "$stage.cpio" "$log"' EXIT
# Software emulation boots in seconds here, but a rare boot stalls: each attempt has its own
# deadline, and a guest that did not finish is booted once more. The console is passed on
# line by line, so that a run killed from outside still shows how far the guest got.
status=""
for attempt in 1 2; do
  timeout "${CAISSON_GUEST_TIMEOUT:-400}" "$qemu" -M q35 -cpu max -smp 2 -m 2048 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$stage.cpio" \
    -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all rdinit=/init $extra_append" </dev/null | tee "$log" |
    grep --line-buffered -v -e '^\[ *[0-9.]*\]' || true
  status=$(grep -ao 'CAISSON-GUEST-EXIT=[0-9]*' "$log" | tail -n 1 | cut -d= -f2 || true)
  [ -n "$status" ] && break
  if grep -aq 'CAISSON-GUEST-START' "$log"; then stage_reached="the program started"; else stage_reached="the guest did not reach its init"; fi
  echo "guest: attempt $attempt did not finish within ${CAISSON_GUEST_TIMEOUT:-400} s ($stage_reached)"
done
[ -n "$status" ] || { echo "guest: the program did not finish (see the console above)"; exit 1; }
exit "$status"
