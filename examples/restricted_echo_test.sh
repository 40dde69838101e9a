#!/usr/bin/env bash
# Starts the example, talks to it, and checks what it logged after restricting itself.
set -euo pipefail
dir=$(mktemp -d /tmp/caisson-example-XXXXXX)
trap 'rm -rf "$dir"' EXIT
coproc server { "$1" "$dir/log"; }
read -r port <&"${server[0]}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'hello\n' >&3
read -r reply <&3
exec 3>&-
wait "$server_PID"
[ "$reply" = hello ] || { echo "echo: got '$reply'"; exit 1; }
grep -q 'served 6 bytes; open /etc/passwd denied; new socket denied' "$dir/log" || { cat "$dir/log"; exit 1; }
echo "example: $(cat "$dir/log")"
