#!/usr/bin/env bash
# Runs every fuzz target for a bounded time from its committed corpus, then merges what it
# found into that corpus (minimized). Prints executions and findings per target; exits
# non-zero on any crash, leak or sanitizer report.
#   fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
fail=0
for t in condition seccomp_policy profile values compiler oci_config; do
  work=$(mktemp -d /tmp/caisson-fuzz-XXXXXX)
  log=$work/log
  # An OCI config with a seccomp profile is some 15 KB.
  max_len=4096
  [ "$t" = oci_config ] && max_len=32768
  if ! "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
       -artifact_prefix="$work/" "$work" "$here/corpus/$t" > "$log" 2>&1; then
    echo "fuzz $t: FAILED (artifacts in $work)"; tail -n 30 "$log"; fail=1; continue
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -n 1)
  # Keep the corpus minimal: a fresh merge of the old corpus and the new finds, by coverage.
  min=$(mktemp -d /tmp/caisson-fuzz-XXXXXX)
  "$build/fuzz/fuzz_$t" -merge=1 "$min" "$here/corpus/$t" "$work" > /dev/null 2>&1 || true
  find "$here/corpus/$t" -type f ! -name 'regression-*' -delete
  cp "$min"/* "$here/corpus/$t/" 2>/dev/null || true
  rm -rf "$min"
  echo "fuzz $t: ${runs:-?} in ${seconds}s, corpus $(ls "$here/corpus/$t" | wc -l) files, no finding"
  rm -rf "$work"
done
exit $fail
