#!/usr/bin/env bash
# The layers, at the link: no layer's objects refer to a symbol that only a layer above it
# defines (a declaration written by hand reaches up as surely as an include). Reads the
# object libraries of a build (CMakeFiles/caisson_layer_NAME.dir).
#   scripts/check-layer-symbols.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
source "$(dirname "${BASH_SOURCE[0]}")/layers.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for layer in $library_layers; do
  dir="$build/CMakeFiles/caisson_layer_$layer.dir"
  [ -d "$dir" ] || { echo "layer symbols: $dir is missing (build first)" >&2; exit 1; }
  mapfile -t objs < <(find "$dir" -name '*.o')
  # Strong definitions only: an inline function or a template (weak, W/V) is defined by every
  # object that uses it, and its header is the include check's business.
  nm --defined-only "${objs[@]}" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort -u > "$tmp/$layer.def"
  nm --undefined-only "${objs[@]}" 2>/dev/null | awk '$1 == "U" {print $2}' | sort -u > "$tmp/$layer.undef"
done
bad=0
for layer in $library_layers; do
  for other in $library_layers; do
    case " ${allowed[$layer]} " in *" $other "*) continue ;; esac
    while IFS= read -r sym; do
      echo "layer symbols: $layer uses $(c++filt "$sym"), which only $other defines" >&2
      bad=1
    done < <(comm -12 "$tmp/$layer.undef" "$tmp/$other.def")
  done
done
exit $bad
