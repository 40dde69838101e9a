#!/usr/bin/env bash
# Builds the guest kernel of `caisson run --vm` from Debian's linux-source package: the
# options in scripts/vm-kernel.config on top of allnoconfig, everything built in (no
# modules), into /var/cache/caisson-guest/caisson-VERSION/boot/vmlinuz-VERSION-caisson, which
# --vm then prefers over Debian's cloud kernel (docs/vm.md). Run as root; takes some minutes
# on two CPUs. Idempotent: an existing kernel of the same source and options is kept.
#   scripts/vm-kernel.sh [--force]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/vm-kernel.config
cache=/var/cache/caisson-guest
[ "$(id -u)" -eq 0 ] || { echo "vm-kernel: run as root (it writes $cache)" >&2; exit 1; }
bash "$here/setup.sh" --vm-kernel

tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1 || true)
[ -n "$tarball" ] || { echo "vm-kernel: no /usr/src/linux-source-*.tar.xz (setup.sh --vm-kernel installs it)" >&2; exit 1; }
version=$(basename "$tarball" .tar.xz); version=${version#linux-source-}
# The package's full version (6.12.118-1~deb12u1) and the options name the build.
pkgver=$(dpkg-query -W -f='${Version}' "linux-source-$version" 2>/dev/null || true)
[ -n "$pkgver" ] || { echo "vm-kernel: linux-source-$version is not an installed package" >&2; exit 1; }
patches=("$here"/vm-kernel-patches/*.patch)
stamp=$(printf '%s\n' "$pkgver" | cat - "$fragment" "${patches[@]}" | sha256sum | cut -c1-12)
out=$cache/caisson-$version/boot
if [ "${1:-}" != "--force" ] && [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] &&
   ls "$out"/vmlinuz-* "$out"/config-* >/dev/null 2>&1; then
  exit 0
fi

work=$(mktemp -d /var/tmp/caisson-vm-kernel-XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "vm-kernel: building linux $pkgver with scripts/vm-kernel.config (a few minutes)" >&2
tar -xf "$tarball" -C "$work"
src=$work/linux-source-$version
# caisson's few changes to Debian's source (scripts/vm-kernel-patches: each behind an option
# of its own, which the fragment sets and the check below finds taken).
for p in "${patches[@]}"; do patch -s --batch --forward -p1 -d "$src" < "$p"; done
make -s -C "$src" allnoconfig KCONFIG_ALLCONFIG="$fragment" >/dev/null
# Every option of the fragment must have taken: a name that changed between kernel versions
# would otherwise be dropped without a word.
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$src/.config" || { echo "vm-kernel: not taken: $line" >&2; missing=1; } ;;
    "# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *}
      ! grep -q "^$opt=" "$src/.config" || { echo "vm-kernel: not unset: $opt" >&2; missing=1; } ;;
  esac
done < "$fragment"
[ "$missing" -eq 0 ] || exit 1
# Stamped with the source's date and no name of this machine (the guest reads /proc/version).
make -s -C "$src" -j"$(nproc)" bzImage KBUILD_BUILD_TIMESTAMP="$(date -u -R -r "$tarball")" \
  KBUILD_BUILD_USER=caisson KBUILD_BUILD_HOST=caisson >/dev/null
release=$(make -s -C "$src" kernelrelease)
mkdir -p "$out"
rm -f "$out/stamp"
# The config before the kernel, each whole (a rename): a run that finds the kernel finds the
# config that says how to boot it.
install -m 0644 "$src/.config" "$out/.config-$release.new"
mv -f "$out/.config-$release.new" "$out/config-$release"
install -m 0644 "$src/arch/x86/boot/bzImage" "$out/.vmlinuz-$release.new"
mv -f "$out/.vmlinuz-$release.new" "$out/vmlinuz-$release"
for old in "$out"/vmlinuz-* "$out"/config-*; do
  case "$old" in "$out/vmlinuz-$release" | "$out/config-$release") ;; *) rm -f "$old" ;; esac
done
echo "$stamp" > "$out/stamp"
echo "vm-kernel: $out/vmlinuz-$release" >&2
