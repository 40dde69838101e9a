#!/usr/bin/env bash
# Egress by name (--allow-host), side by side in one run: an HTTPS download's throughput and a
# plain HTTP request's time to first byte (connect, request, answer; name lookup excluded),
# from the host straight to a test host, and from a sandbox through caisson's proxy, both
# without proxy variables (the address caisson's resolver gave) and with them (CONNECT).
# The test host is tests/support/egress_host.sh's; openssl s_server serves the download.
#   bench/egress_names.sh [CAISSON] [ROUNDS]
set -euo pipefail
caisson=$(readlink -f "${1:-build/caisson}")
rounds=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/support/egress_host.sh"
head -c $((256 << 20)) /dev/zero > "$www/big"
(cd "$www" && exec nsenter -t "$holder" -n openssl s_server -quiet -WWW -accept 10.233.9.2:8443 \
  -cert "$tmp/cert.pem" -key "$tmp/key.pem") >/dev/null 2>&1 & servers+=($!)
for _ in $(seq 50); do curl -s -k -o /dev/null --resolve pkgs.test:8443:10.233.9.2 https://pkgs.test:8443/index.html && break; sleep 0.1; done

get_big='curl -s -o /dev/null --cacert /tmp/cert.pem -w %{speed_download} https://pkgs.test:8443/big'
ttfb='for i in $(seq 30); do curl -s -o /dev/null -w "%{time_namelookup} %{time_starttransfer}\n" http://pkgs.test/index.html; done'
noproxy=(--unsetenv http_proxy --unsetenv https_proxy --unsetenv HTTP_PROXY --unsetenv HTTPS_PROXY)
box() { in_world "$caisson" run --allow-host pkgs.test:80,443,8443 --ro-bind "$tmp/cert.pem" /tmp/cert.pem "$@"; }
: > "$tmp/tput"; : > "$tmp/ttfb"
for _ in $(seq "$rounds"); do
  echo "direct $(in_world sh -c "cp $tmp/cert.pem /tmp/cert.pem 2>/dev/null; curl -s -o /dev/null --resolve pkgs.test:8443:10.233.9.2 -k -w %{speed_download} https://pkgs.test:8443/big")" >> "$tmp/tput"
  echo "resolver $(box "${noproxy[@]}" -- sh -c "$get_big")" >> "$tmp/tput"
  echo "connect $(box -- sh -c "$get_big")" >> "$tmp/tput"
  in_world sh -c "for i in \$(seq 30); do curl -s -o /dev/null --resolve pkgs.test:80:10.233.9.2 -w 'direct %{time_namelookup} %{time_starttransfer}\n' http://pkgs.test/index.html; done" >> "$tmp/ttfb"
  box "${noproxy[@]}" -- sh -c "$ttfb" | sed 's/^/resolver /' >> "$tmp/ttfb"
  box -- sh -c "$ttfb" | sed 's/^/connect /' >> "$tmp/ttfb"
done
/usr/bin/python3 - "$tmp/tput" "$tmp/ttfb" <<'PY'
import statistics, sys
tput, ttfb = {}, {}
for line in open(sys.argv[1]):
    k, v = line.split()
    tput.setdefault(k, []).append(float(v) / 2**20)
for line in open(sys.argv[2]):
    k, lookup, first = line.split()
    ttfb.setdefault(k, []).append((float(first) - float(lookup)) * 1000)
rows = [("direct", "host -> test host, no sandbox"), ("resolver", "sandbox, caisson's resolver and proxy"),
        ("connect", "sandbox, http(s)_proxy: CONNECT")]
d_t, d_f = statistics.median(tput["direct"]), statistics.median(ttfb["direct"])
print("%-10s %-40s %14s %8s %18s %10s" % ("path", "", "HTTPS MiB/s", "x_direct", "first byte ms", "+ms"))
for k, what in rows:
    t, f = statistics.median(tput[k]), statistics.median(ttfb[k])
    print("%-10s %-40s %14.1f %8.2f %18.3f %+10.3f" % (k, what, t, t / d_t, f, f - d_f))
print("(256 MiB from openssl s_server, median of %d; first byte: connect + GET + answer, name lookup excluded, median of %d)"
      % (len(tput["direct"]), len(ttfb["direct"])))
PY
