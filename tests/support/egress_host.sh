# A test host for egress by name, sourced by tests/egress_clients_test.sh and
# bench/egress_names.sh: a network namespace of its own (held by a sleeping process) a veth
# pair away at 10.233.9.2 (and 10.233.9.3, which no name leads to), serving HTTP (80) and HTTPS with a self-signed certificate (443)
# from $tmp/www, and DNS (dnsmasq) for pkgs.test and other.test, both that address, and
# self.test and self2.test, the host's own end of the pair (10.233.9.1, and .4 beside it), and
# vethbox.test, the address a --net veth sandbox on the bridge cstest9 gets (10.233.10.2). Nothing
# leaves the machine. `in_world COMMAND...` runs a command in a mount namespace of its own
# where /etc/resolv.conf names that resolver and /etc/hosts lists neither name, as caisson
# and its sandbox then see them. Everything goes at the caller's exit (an EXIT trap).
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
ip addr add 10.233.9.1/29 dev cthegr-h && ip link set cthegr-h up
ip addr add 10.233.9.4/29 dev cthegr-h  # a secondary address of the host's: its local route's source is .1
there() { nsenter -t "$holder" -n "$@"; }
there ip addr add 10.233.9.2/29 dev cthegr-p
there ip addr add 10.233.9.3/29 dev cthegr-p  # an address no name leads to: a raw address to try
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
plain = Quiet(("", 80), handler)
tls = Quiet(("", 443), handler)
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
  --address=/pkgs.test/10.233.9.2 --address=/other.test/10.233.9.2 --address=/self.test/10.233.9.1 --address=/self2.test/10.233.9.4 --address=/vethbox.test/10.233.10.2 \
  --pid-file= --user=root 2>"$tmp/dns.err" & servers+=($!)
for _ in $(seq 100); do grep -q ready "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$tmp/serve.out" || { echo "FAIL: the test host's server did not start"; cat "$tmp/serve.err"; exit 1; }
# The resolver answers before anything asks it.
/usr/bin/python3 - <<'PY' || { echo "FAIL: the test host's resolver did not answer"; cat "$tmp/dns.err"; exit 1; }
import socket, time
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04pkgs\x04test\x00\x00\x01\x00\x01"
for _ in range(100):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.1)
    try:
        s.sendto(q, ("10.233.9.2", 53))
        if s.recv(512)[:2] == b"\x12\x34":
            raise SystemExit(0)
    except OSError:
        pass
    time.sleep(0.05)
raise SystemExit(1)
PY

echo "nameserver 10.233.9.2" > "$tmp/resolv.conf"
printf '127.0.0.1 localhost\n' > "$tmp/hosts"
chmod 644 "$tmp/resolv.conf" "$tmp/hosts"
in_world() {
  unshare -m --propagation private sh -c '
    mount --bind "$0/resolv.conf" /etc/resolv.conf && mount --bind "$0/hosts" /etc/hosts && exec "$@"' "$tmp" "$@"
}
