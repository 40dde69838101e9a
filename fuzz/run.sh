#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, from the committed seed corpus plus the working
# corpus kept in the build directory, and adds what it finds to the working corpus. Prints
# executions and findings per target; exits non-zero on any crash, leak or sanitizer report.
#   fuzz/run.sh BUILD_DIR SECONDS
#   fuzz/run.sh BUILD_DIR minimize   rewrites fuzz/corpus/T as the fewest inputs that keep the
#                                    edge coverage of the seeds and the working corpus
#                                    (set-cover merge); regression-* inputs always stay.
# The repository keeps the small seed corpus; larger ones live in BUILD_DIR/corpus.
set -euo pipefail
build=$1
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
fail=0
for t in condition seccomp_policy profile values compiler oci_config; do
  # An OCI config with a seccomp profile is some 15 KB.
  max_len=4096
  [ "$t" = oci_config ] && max_len=32768
  seeds=$here/corpus/$t
  grown=$build/corpus/$t
  mkdir -p "$grown"
  if [ "$seconds" = minimize ]; then
    min=$(mktemp -d /tmp/caisson-fuzz-XXXXXX)
    "$build/fuzz/fuzz_$t" -set_cover_merge=1 -use_counters=0 -use_value_profile=0 -max_len="$max_len" \
      "$min" "$seeds" "$grown" > /dev/null 2>&1
    find "$seeds" -type f ! -name 'regression-*' -delete
    cp "$min"/* "$seeds/" 2>/dev/null || true
    rm -rf "$min"
    echo "fuzz $t: seed corpus $(ls "$seeds" | wc -l) files"
    continue
  fi
  work=$(mktemp -d /tmp/caisson-fuzz-XXXXXX)
  log=$work/log
  if ! "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
       -artifact_prefix="$work/" "$grown" "$seeds" > "$log" 2>&1; then
    echo "fuzz $t: FAILED (artifacts in $work)"; tail -n 30 "$log"; fail=1; continue
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -n 1)
  echo "fuzz $t: ${runs:-?} in ${seconds}s, working corpus $(ls "$grown" | wc -l) files, no finding"
  rm -rf "$work"
done
exit $fail
