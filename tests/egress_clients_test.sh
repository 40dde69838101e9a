#!/usr/bin/env bash
# Egress by name with the clients people use (issue 20): curl, Python's urllib, pip against a
# local index, and git over HTTP, each with and without the proxy variables. Nothing leaves
# the machine: a test host in a network namespace of its own (a veth pair away) serves HTTP,
# HTTPS with a self-signed certificate, and DNS (dnsmasq) for the names pkgs.test and
# other.test, both on its one address; caisson runs in a mount namespace of the test's where
# /etc/resolv.conf names that resolver. The sandbox may reach pkgs.test only: other.test
# (the same server, another name), the raw address and unknown names are refused, on
# --monitor's stream and in the audit file.
#   tests/egress_clients_test.sh CAISSON
set -euo pipefail
caisson=$(readlink -f "$1")
[ "$(id -u)" = 0 ] || { echo "SKIP: the test host (a veth pair, a namespace) needs root"; exit 77; }
for tool in curl git openssl dnsmasq python3 nsenter unshare ip setpriv; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (scripts/setup.sh installs it)"; exit 77; }
done
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || { echo "SKIP: pip is not installed (python3-pip)"; exit 77; }

source "$(dirname "$0")/support/egress_host.sh"
fails=0
check() {  # NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: expected '$2', got '$3'"; fails=$((fails + 1)); fi
}
sandbox() {  # ARGS... -- COMMAND...: stdout of the command; stderr to $tmp/monitor
  in_world "$caisson" run --monitor --audit "$tmp/audit.jsonl" --allow-host pkgs.test --ro-bind "$tmp/cert.pem" /tmp/cert.pem \
    --tmpfs /tmp/home "$@" 2>>"$tmp/monitor" || true
}
noproxy=(--unsetenv http_proxy --unsetenv https_proxy --unsetenv HTTP_PROXY --unsetenv HTTPS_PROXY)
code='curl -s -o /dev/null -w %{http_code} --max-time 10 --cacert /tmp/cert.pem'

for mode in proxy direct; do
  extra=(); [ $mode = direct ] && extra=("${noproxy[@]}")
  check "curl http, $mode" 200 "$(sandbox "${extra[@]}" -- sh -c "$code http://pkgs.test/")"
  check "curl https, $mode" 200 "$(sandbox "${extra[@]}" -- sh -c "$code https://pkgs.test/")"
  other=$(sandbox "${extra[@]}" -- sh -c "$code https://other.test/")
  check "curl another name of the same host, $mode" refused "$([ "$other" = 200 ] && echo reached || echo refused)"
  raw=$(sandbox "${extra[@]}" -- sh -c "$code http://10.233.9.3/")
  check "curl the raw address, $mode" refused "$([ "$raw" = 200 ] && echo reached || echo refused)"
  check "python urllib https, $mode" "hello from the test host" "$(sandbox "${extra[@]}" -- /usr/bin/python3 -c '
import ssl, urllib.request
ctx = ssl.create_default_context(cafile="/tmp/cert.pem")
print(urllib.request.urlopen("https://pkgs.test/", context=ctx, timeout=10).read().decode().strip())')"
  check "python urllib, another name, $mode" refused "$(sandbox "${extra[@]}" -- /usr/bin/python3 -c '
import urllib.request
try:
    urllib.request.urlopen("http://other.test/", timeout=10); print("reached")
except Exception:
    print("refused")')"
  check "pip download from the local index, $mode" caissontestpkg-1.0-py3-none-any.whl "$(sandbox "${extra[@]}" -- sh -c '
HOME=/tmp/home /usr/bin/python3 -m pip download -q --no-deps --disable-pip-version-check --no-cache-dir \
  --index-url http://pkgs.test/simple --trusted-host pkgs.test -d /tmp/home/dl caissontestpkg >/dev/null 2>&1; ls /tmp/home/dl')"
  check "git clone over http, $mode" content "$(sandbox "${extra[@]}" -- sh -c '
HOME=/tmp/home git clone -q http://pkgs.test/repo.git /tmp/home/r 2>/dev/null && cat /tmp/home/r/file')"
  check "git clone from another name, $mode" refused "$(sandbox "${extra[@]}" -- sh -c '
HOME=/tmp/home git clone -q http://other.test/repo.git /tmp/home/r 2>/dev/null && echo reached || echo refused')"
done

# A name that leads to one of the host's own addresses (not loopback) is refused, even to
# '*': the host itself is reached only through a rule that names localhost.
# The test's own server on each of the host's two addresses, there before the sandbox asks.
for a in 10.233.9.1 10.233.9.4; do
  /usr/bin/python3 -m http.server --bind $a --directory "$www" 8089 >/dev/null 2>&1 & servers+=($!)
  for _ in $(seq 100); do curl -sf -o /dev/null --max-time 1 http://$a:8089/ && break; sleep 0.1; done
  check "the host's server on $a answers the host" 200 "$(curl -s -o /dev/null -w %{http_code} --max-time 5 http://$a:8089/)"
done
for name in self.test self2.test; do  # the primary address, and a secondary one
  self=$(in_world "$caisson" run --monitor --allow-host '*:8089' "${noproxy[@]}" -- sh -c "$code http://$name:8089/" 2>>"$tmp/monitor" || true)
  check "curl $name, the host's own address, to '*'" refused "$([ "$self" = 200 ] && echo reached || echo refused)"
  check "the monitor says why for $name" yes "$(grep -q "refused dns $name (it resolves only to addresses no name may reach" "$tmp/monitor" && echo yes || echo no)"
done

# Nor into the network of caisson's --net veth sandboxes, which isolates them from each other
# but not from the host, where the proxy connects from: a name that leads to one is refused.
"$caisson" run --net veth --veth-bridge cstest9 --veth-subnet 10.233.10.0/24 -- \
  /usr/bin/python3 -m http.server --directory /usr/share/doc 8090 >/dev/null 2>&1 & veth_box=$!
# -f: only the sandbox's own answer ends the wait. Until its bridge is up, the address goes out
# the host's default route, and some networks answer every address there (a 404 was taken
# for the sandbox's on one such machine).
for _ in $(seq 100); do curl -sf -o /dev/null --max-time 1 http://10.233.10.2:8090/ && break; sleep 0.1; done
check "the veth sandbox answers the host" 200 "$(curl -s -o /dev/null -w %{http_code} --max-time 5 http://10.233.10.2:8090/)"
box=$(in_world "$caisson" run --allow-host '*:8090' "${noproxy[@]}" -- sh -c "$code http://vethbox.test:8090/" 2>>"$tmp/monitor" || true)
check "curl vethbox.test, a veth sandbox's address, to '*'" refused "$([ "$box" = 200 ] && echo reached || echo refused)"
box=$(in_world setpriv --reuid=4242 --regid=4242 --clear-groups "$caisson" run --allow-connect 10.233.10.0/24:8090 -- \
  sh -c "$code http://10.233.10.2:8090/" 2>>"$tmp/monitor" || true)
check "rootless --allow-connect into a veth sandbox's network" refused "$([ "$box" = 200 ] && echo reached || echo refused)"
kill -TERM $veth_box; wait $veth_box 2>/dev/null || true
# And an address rule that covers the host's own address does not reach it (root's beside
# --allow-host, an ordinary user's always).
own=$(in_world "$caisson" run --allow-host pkgs.test --allow-connect 10.233.9.0/29:8089 -- sh -c "$code http://10.233.9.1:8089/" 2>>"$tmp/monitor" || true)
check "--allow-connect over the host's own address, beside --allow-host" refused "$([ "$own" = 200 ] && echo reached || echo refused)"
own=$(in_world setpriv --reuid=4242 --regid=4242 --clear-groups "$caisson" run --allow-connect 10.233.9.0/29:8089 -- sh -c "$code http://10.233.9.4:8089/" 2>>"$tmp/monitor" || true)
check "rootless --allow-connect over the host's own address" refused "$([ "$own" = 200 ] && echo reached || echo refused)"

# Root's --deny-private beside --allow-host is the proxy's too (the sandbox has lo alone): it
# holds the names (pkgs.test leads to a private address), and --allow-connect's exceptions.
dp=$(in_world "$caisson" run --monitor --allow-host pkgs.test --deny-private "${noproxy[@]}" -- sh -c "$code http://pkgs.test/" 2>>"$tmp/monitor" || true)
check "--deny-private holds a name that leads to a private address" refused "$([ "$dp" = 200 ] && echo reached || echo refused)"
check "the monitor says why for pkgs.test" yes "$(grep -q "refused dns pkgs.test (it resolves only to addresses no name may reach" "$tmp/monitor" && echo yes || echo no)"
check "--deny-private with --allow-connect's exception for the address" 200 \
  "$(in_world "$caisson" run --allow-host pkgs.test --deny-private --allow-connect 10.233.9.2:80 "${noproxy[@]}" -- sh -c "$code http://pkgs.test/" 2>>"$tmp/monitor" || true)"

# Beside --allow-host, address rules that deny by default keep Landlock's TCP ports, which
# must take the proxy's own (here 443, which no address rule names).
check "--allow-host beside a default-deny --allow-connect" 200 \
  "$(in_world "$caisson" run --allow-host pkgs.test:443 --allow-connect 10.233.9.3:80 --ro-bind "$tmp/cert.pem" /tmp/cert.pem "${noproxy[@]}" -- \
     sh -c "$code https://pkgs.test/" 2>>"$tmp/monitor" || true)"

# An ordinary user's proxy judges names as root's does (its route lookups included).
check "as an ordinary user, curl http" 200 \
  "$(in_world setpriv --reuid=4242 --regid=4242 --clear-groups "$caisson" run --allow-host pkgs.test "${noproxy[@]}" -- sh -c "$code http://pkgs.test/" 2>>"$tmp/monitor" || true)"
self=$(in_world setpriv --reuid=4242 --regid=4242 --clear-groups "$caisson" run --allow-host '*:8089' "${noproxy[@]}" -- sh -c "$code http://self2.test:8089/" 2>>"$tmp/monitor" || true)
check "as an ordinary user, curl self2.test, to '*'" refused "$([ "$self" = 200 ] && echo reached || echo refused)"

# An ordinary user's address rules (--allow-connect): through the same proxy, no cgroup BPF.
as_user() { in_world setpriv --reuid=4242 --regid=4242 --clear-groups "$caisson" run --allow-connect 10.233.9.3:80 "$@" 2>>"$tmp/monitor" || true; }
check "rootless --allow-connect reaches the address" 200 "$(as_user -- sh -c "$code http://10.233.9.3/")"
other=$(as_user -- sh -c "$code http://10.233.9.2/")
check "rootless --allow-connect, another address" refused "$([ "$other" = 200 ] && echo reached || echo refused)"
other=$(as_user -- sh -c "$code http://10.233.9.3:443/")
check "rootless --allow-connect, another port" refused "$([ "$other" = 200 ] && echo reached || echo refused)"

# Every refusal was said as it happened, and audited.
check "the monitor names other.test" yes "$(grep -q 'caisson: refused .*other.test' "$tmp/monitor" && echo yes || echo no)"
check "the monitor names the raw address" yes "$(grep -q 'caisson: refused .*10.233.9.3' "$tmp/monitor" && echo yes || echo no)"
check "the audit names other.test" yes "$(grep -q '"egress":"[^"]*other.test' "$tmp/audit.jsonl" && echo yes || echo no)"
if [ $fails -gt 0 ]; then
  echo "--- monitor"; cat "$tmp/monitor"; echo "--- dns"; cat "$tmp/dns.err"; echo "--- server"; tail -20 "$tmp/serve.err"
  exit 1
fi
echo "egress clients: every check passed"
