#!/usr/bin/env bash
# The layer check (scripts/check-layers.sh) passes on the tree, and fails on a copy of it
# with one deliberate include that reaches up (mech -> run), and on one whose debts list
# names an include that is gone.
set -u
src=${1:?source dir}
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
echo "ok: the layers hold, and a violation or a stale debt fails the check"
