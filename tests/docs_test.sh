#!/usr/bin/env bash
# The reference stays true: every option `caisson run --help` lists is named in
# docs/run.md, and every document the README links to exists.
set -u
caisson=${1:?caisson binary}
src=${2:?source dir}
bad=0
for flag in $("$caisson" run --help | grep -o '^ *--[a-z0-9-]*' | tr -d ' ' | sort -u); do
  case "$flag" in --help) continue ;; esac
  grep -q -- "\`$flag" "$src/docs/run.md" || { echo "docs/run.md does not name $flag"; bad=1; }
done
for link in $(grep -o '](\([a-zA-Z0-9_./-]*\))' "$src/README.md" | sed 's/^](\(.*\))$/\1/'); do
  [ -e "$src/$link" ] || { echo "README.md links to $link, which does not exist"; bad=1; }
done
[ $bad -eq 0 ] && echo "ok: docs/run.md names every option; the README's links resolve"
exit $bad
