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
for tool in curl git openssl dnsmasq python3 nsenter unshare ip; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (scripts/setup.sh installs it)"; exit 77; }
done
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || { echo "SKIP: pip is not installed (python3-pip)"; exit 77; }

tmp=$(mktemp -d /tmp/caisson-test-XXXXXX)
chmod 755 "$tmp"
holder=
servers=()
cleanup() {
  local rc=$?
  set +e
  for p in "${servers[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  ip link del cthegr-h 2>/dev/null
  [ -n "$holder" ] && kill -KILL "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

# The test host: a namespace held by a sleeping process, 10.233.9.2 behind a veth pair.
unshare --net sleep infinity & holder=$!
for _ in $(seq 100); do [ "$(readlink /proc/$holder/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.05; done
ip link add cthegr-h type veth peer name cthegr-p netns "$holder"
ip addr add 10.233.9.1/30 dev cthegr-h && ip link set cthegr-h up
there() { nsenter -t "$holder" -n "$@"; }
there ip addr add 10.233.9.2/30 dev cthegr-p
there ip link set cthegr-p up && there ip link set lo up

# What it serves: a page, a git repository (git's dumb HTTP), a package index with one wheel.
www=$tmp/www
mkdir -p "$www/simple/caissontestpkg" "$www/files"
echo "hello from the test host" > "$www/index.html"
git init -q --bare "$www/repo.git"
git -C "$tmp" init -q work && echo content > "$tmp/work/file"
git -C "$tmp/work" add file && git -C "$tmp/work" -c user.name=t -c user.email=t@t commit -qm one
git -C "$tmp/work" push -q "$www/repo.git" HEAD:refs/heads/main 2>/dev/null
git -C "$www/repo.git" symbolic-ref HEAD refs/heads/main
git -C "$www/repo.git" update-server-info
/usr/bin/python3 - "$www/files/caissontestpkg-1.0-py3-none-any.whl" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("caissontestpkg/__init__.py", "")
    z.writestr("caissontestpkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: caissontestpkg\nVersion: 1.0\n")
    z.writestr("caissontestpkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("caissontestpkg-1.0.dist-info/RECORD", "")
PY
echo '<a href="/files/caissontestpkg-1.0-py3-none-any.whl">caissontestpkg-1.0-py3-none-any.whl</a>' > "$www/simple/caissontestpkg/index.html"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pkgs.test -addext "subjectAltName=DNS:pkgs.test,DNS:other.test" \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
chmod 644 "$tmp/cert.pem"
cat > "$tmp/serve.py" <<'PY'
import functools, http.server, ssl, sys, threading
www, cert, key = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=www)
class Quiet(http.server.ThreadingHTTPServer):
    daemon_threads = True
plain = Quiet(("10.233.9.2", 80), handler)
tls = Quiet(("10.233.9.2", 443), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
threading.Thread(target=tls.serve_forever, daemon=True).start()
print("ready", flush=True)
plain.serve_forever()
PY
servers=()
nsenter -t "$holder" -n /usr/bin/python3 "$tmp/serve.py" "$www" "$tmp/cert.pem" "$tmp/key.pem" > "$tmp/serve.out" 2>"$tmp/serve.err" & servers+=($!)
nsenter -t "$holder" -n dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=10.233.9.2 --bind-interfaces --port 53 \
  --address=/pkgs.test/10.233.9.2 --address=/other.test/10.233.9.2 --pid-file= --user=root 2>"$tmp/dns.err" & servers+=($!)
for _ in $(seq 100); do grep -q ready "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$tmp/serve.out" || { echo "FAIL: the test host's server did not start"; cat "$tmp/serve.err"; exit 1; }

# caisson, and the sandbox's view of the host's /, with a resolv.conf naming the test's
# resolver and no /etc/hosts entries for the names asked.
echo "nameserver 10.233.9.2" > "$tmp/resolv.conf"
printf '127.0.0.1 localhost\n' > "$tmp/hosts"
chmod 644 "$tmp/resolv.conf" "$tmp/hosts"
fails=0
check() {  # NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: expected '$2', got '$3'"; fails=$((fails + 1)); fi
}
sandbox() {  # ARGS... -- COMMAND...: stdout of the command; stderr to $tmp/monitor
  unshare -m --propagation private sh -c '
    mount --bind "$0/resolv.conf" /etc/resolv.conf && mount --bind "$0/hosts" /etc/hosts && shift 0 && exec "$@"' \
    "$tmp" "$caisson" run --monitor --audit "$tmp/audit.jsonl" --allow-host pkgs.test --ro-bind "$tmp/cert.pem" /tmp/cert.pem \
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
  raw=$(sandbox "${extra[@]}" -- sh -c "$code http://10.233.9.2/")
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

# Every refusal was said as it happened, and audited.
check "the monitor names other.test" yes "$(grep -q 'caisson: refused .*other.test' "$tmp/monitor" && echo yes || echo no)"
check "the monitor names the raw address" yes "$(grep -q 'caisson: refused .*10.233.9.2' "$tmp/monitor" && echo yes || echo no)"
check "the audit names other.test" yes "$(grep -q '"egress":"[^"]*other.test' "$tmp/audit.jsonl" && echo yes || echo no)"
if [ $fails -gt 0 ]; then
  echo "--- monitor"; cat "$tmp/monitor"; echo "--- dns"; cat "$tmp/dns.err"; echo "--- server"; tail -20 "$tmp/serve.err"
  exit 1
fi
echo "egress clients: every check passed"
