#!/usr/bin/env bash
# The plug-in examples against hostile input: macro_doc with macros that crash, loop and
# divide by zero; thumbnail with images that promise a gigabyte, lie about their size, or are
# not images. Each bad one is named with what happened to the plug-in; the good ones work.
#   plugins_test.sh MACRO_DOC MACRO_EVAL.so THUMBNAIL PGM.so   (CAISSON_PLUGIN_WORKER may name the worker)
set -euo pipefail
macro_doc=$1 macro_eval=$2 thumbnail=$3 pgm=$4
dir=$(mktemp -d /tmp/caisson-example-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "plugins example: $*"; exit 1; }

# A million-deep nesting would be 2 MB; 200,000 levels already overflow the evaluator's stack.
deep=$(printf '%*s' 200000 '' | tr ' ' '(')1$(printf '%*s' 200000 '' | tr ' ' ')')
printf 'a={{ 1 + 2*3 }} b={{ sqrt(16) }} c={{ 1/0 }} d={{ fact(1e12) }} e={{ %s }} f={{ 2^10 }}\n' "$deep" > "$dir/doc"
"$macro_doc" "$macro_eval" < "$dir/doc" > "$dir/out" 2> "$dir/err" || { cat "$dir/err"; fail "macro_doc failed"; }
want='a=7 b=4 c=[macro failed: call failed] d=[macro failed: timed out] e=[macro failed: crashed] f=1024'
[ "$(cat "$dir/out")" = "$want" ] || { cat "$dir/out" "$dir/err"; fail "macro_doc printed something else"; }
grep -q 'macro 3: .*division by zero at column' "$dir/err" || { cat "$dir/err"; fail "no reason for macro 3"; }
grep -q 'macro 5: .*crashed (SEGV)' "$dir/err" || { cat "$dir/err"; fail "no reason for macro 5"; }
echo "example: macro_doc: $(cat "$dir/out" | cut -c1-60)..."

{ printf 'P5\n64 32\n255\n'; perl -e 'for $y (0..31) { print map { chr($_ * 4) } 0..63 }'; } > "$dir/gradient.pgm"
{ printf 'P5\n32768 32768\n65535\n'; printf 'xxxx'; } > "$dir/gigabyte.pgm"
{ printf 'P5\n100000 100000\n255\n'; printf 'xxxx'; } > "$dir/short.pgm"
printf 'this is not an image\n' > "$dir/text.pgm"
status=0
"$thumbnail" "$pgm" "$dir/gradient.pgm" "$dir/gigabyte.pgm" "$dir/short.pgm" "$dir/text.pgm" > "$dir/out" 2> "$dir/err" || status=$?
[ "$status" = 1 ] || { cat "$dir/out" "$dir/err"; fail "thumbnail exited $status, not 1"; }
[ "$(grep -c '^    \.\.\.\.:::----===++++\*\*\*####%%%$' "$dir/out")" = 8 ] || { cat "$dir/out"; fail "no gradient drawn"; }
grep -q 'gigabyte.pgm: \[not decoded: out of memory\]' "$dir/out" || { cat "$dir/out" "$dir/err"; fail "gigabyte"; }
grep -q 'short.pgm: \[not decoded: crashed\]' "$dir/out" || { cat "$dir/out" "$dir/err"; fail "short"; }
grep -q 'text.pgm: \[not decoded: call failed\]' "$dir/out" || { cat "$dir/out" "$dir/err"; fail "text"; }
grep -q 'text.pgm: .*not a binary PGM' "$dir/err" || { cat "$dir/err"; fail "no reason for text.pgm"; }
echo "example: thumbnail: gradient drawn; gigabyte: out of memory; short: crashed; text: call failed"
