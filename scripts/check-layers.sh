#!/usr/bin/env bash
# The layers, enforced: each directory of src/ may include its own headers, those of the
# layers below it, and the public include/caisson; nothing reaches up. Run by the build
# before anything compiles (a forbidden include fails it) and by tests/layers_test.sh.
#   scripts/check-layers.sh [SOURCE_DIR]
#
# The layers themselves are in scripts/layers.sh.
#
# Debts: the face's includes listed in scripts/layer-debts.txt are allowed until removed
# (issue 18 moves what they need into include/caisson). A listed include that is gone must be
# dropped from the list, so that it only shrinks.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/layers.sh"
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
debts=scripts/layer-debts.txt
bad=0
seen=$(mktemp)
trap 'rm -f "$seen"' EXIT
for dir in src/*/; do
  layer=$(basename "$dir")
  [ "$layer" = bpf ] && continue  # BPF programs in C, built by clang on their own
  if [ -z "${allowed[$layer]+x}" ]; then
    echo "layers: src/$layer is no known layer (add it to scripts/layers.sh)" >&2
    bad=1
    continue
  fi
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    target=$(sed -n 's/^#include "\([a-z_]*\)\/.*/\1/p' <<<"${rest#*:}")
    [ -n "$target" ] || continue
    case " ${allowed[$layer]} " in *" $target "*) continue ;; esac
    inc=$(sed -n 's/^#include "\(.*\)".*/\1/p' <<<"${rest#*:}")
    if [ -f "$debts" ] && grep -qxF "$file: $inc" "$debts"; then
      echo "$file: $inc" >> "$seen"
      continue
    fi
    echo "layers: $file:$line includes \"$inc\": $layer may include only ${allowed[$layer]} and <caisson/...>" >&2
    bad=1
  done < <(grep -Hn '^#include "' "$dir"*.cpp "$dir"*.hpp 2>/dev/null || true)
done
if [ -f "$debts" ]; then
  while IFS= read -r debt; do
    [ -z "$debt" ] || [ "${debt#\#}" != "$debt" ] && continue
    grep -qxF "$debt" "$seen" || { echo "layers: $debts lists \"$debt\", which is gone: drop it" >&2; bad=1; }
  done < "$debts"
fi
exit $bad
