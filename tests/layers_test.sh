#!/usr/bin/env bash
# The layer check (scripts/check-layers.sh) passes on the tree, and fails on a copy of it
# with one deliberate include that reaches up (mech -> run), and on one whose debts list
# names an include that is gone. At the link (scripts/check-layer-symbols.sh): the build's
# layers pass, and a copy with one mech object that calls into run fails.
#   tests/layers_test.sh SOURCE_DIR BUILD_DIR
set -u
src=${1:?source dir}
build=${2:?build dir}
bash "$src/scripts/check-layers.sh" "$src" || { echo "FAIL: the tree itself breaks the layers"; exit 1; }
tmp=$(mktemp -d /tmp/caisson-test-layers-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/src" "$src/scripts" "$tmp/"
sed -i '0,/^#include "/s//#include "run\/plan.hpp"\n#include "/' "$tmp/src/mech/fds.cpp"
if out=$(bash "$tmp/scripts/check-layers.sh" "$tmp" 2>&1); then
  echo "FAIL: an include from mech into run passed"; exit 1
fi
grep -q 'src/mech/fds.cpp:.* includes "run/plan.hpp": mech may include only' <<<"$out" || { echo "FAIL: unclear message: $out"; exit 1; }
cp "$src/src/mech/fds.cpp" "$tmp/src/mech/fds.cpp"
echo "src/cli/main.cpp: policy/nothing.hpp" >> "$tmp/scripts/layer-debts.txt"
if bash "$tmp/scripts/check-layers.sh" "$tmp" 2>/dev/null; then
  echo "FAIL: a stale debt passed"; exit 1
fi
bash "$src/scripts/check-layer-symbols.sh" "$build" || { echo "FAIL: the build's objects reach up a layer"; exit 1; }
mkdir -p "$tmp/build/CMakeFiles"
cp -rs "$(cd "$build" && pwd)"/CMakeFiles/caisson_layer_*.dir "$tmp/build/CMakeFiles/"  # links, not copies
# A declaration written by hand, which no include check sees.
cat > "$tmp/reach_up.cpp" <<'CPP'
namespace caisson::run { std::string release_container(const std::string&); }
int reach_up() { return static_cast<int>(caisson::run::release_container("x").size()); }
CPP
sed -i '1i #include <string>' "$tmp/reach_up.cpp"
c++ -std=c++20 -c "$tmp/reach_up.cpp" -o "$tmp/build/CMakeFiles/caisson_layer_mech.dir/reach_up.o" || { echo "FAIL: cannot compile the probe object"; exit 1; }
if out=$(bash "$src/scripts/check-layer-symbols.sh" "$tmp/build" 2>&1); then
  echo "FAIL: a mech object that calls into run passed"; exit 1
fi
grep -q 'layer symbols: mech uses caisson::run::release_container.*which only run defines' <<<"$out" || { echo "FAIL: unclear message: $out"; exit 1; }
echo "ok: the layers hold, and a violation or a stale debt fails the check, at the include and at the link"
