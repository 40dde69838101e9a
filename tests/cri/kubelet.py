"""The kubelet's side of a node, for the CRI test and benchmark: containerd with its CRI
plugin on directories of its own, driven over gRPC with the CRI's own messages (runtime.v1,
cri_api.proto, compiled here by protoc) and exec's websocket, as the kubelet and kubectl do.

    with kubelet.Node(caisson_oci, probe, source_dir) as node:
        pod = node.pod()                     # RunPodSandbox with the handler "caisson"
        c = pod.container("a", ["/bin/sleep", "1000"])
        pod.exec_probe(c)                    # the probe's report from inside

containerd's runtime entry for caisson is docs/kubernetes/containerd-caisson.toml, read from
that file; runc and crun sit beside it, through the same shim. The pod network is the CNI
bridge plugin on a bridge of the node's own; the images are written here with no registry
(busybox and the probe, OCI layouts imported with ctr). Leaving the `with` takes down every
pod, containerd, and whatever a failure left: shims, processes, cgroups, mounts, the bridge.
"""
import glob
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

# What containerd writes into the pod: the CNI bridge (a name the suite's leak check knows),
# its addresses, and the image names.
BRIDGE = "cthcri0"
SUBNET = "10.233.30.0/24"
GATEWAY = "10.233.30.1"
PAUSE_IMAGE = "localhost/caisson-cri-pause:1"
TEST_IMAGE = "localhost/caisson-cri-test:1"


def missing(oci):
    """Why this machine cannot be the node, or None."""
    if oci is None or not os.path.isfile(oci):
        return "no caisson-oci at " + str(oci)
    if os.geteuid() != 0:
        return "containerd's CRI runs pods as root"
    for tool in ("/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2"):
        if not os.access(tool, os.X_OK):
            return tool + " is missing (scripts/setup.sh --check installs containerd)"
    for plugin in ("bridge", "host-local", "loopback"):
        if not os.access("/usr/lib/cni/" + plugin, os.X_OK):
            return "the CNI plugin " + plugin + " is missing (containernetworking-plugins)"
    if shutil.which("protoc") is None:
        return "protoc is missing (protobuf-compiler)"
    try:
        import google.protobuf  # noqa: F401
        import grpc  # noqa: F401
        import websocket  # noqa: F401
    except ImportError as e:
        return "a Python module is missing: " + str(e) + " (python3-grpcio, python3-protobuf, python3-websocket)"
    return None


def load_api(work, source):
    """The CRI's messages, compiled from tests/cri/cri_api.proto into work."""
    subprocess.run(["protoc", "-I" + os.path.join(source, "tests/cri"), "--python_out=" + work,
                    os.path.join(source, "tests/cri/cri_api.proto")], check=True)
    sys.path.insert(0, work)
    import cri_api_pb2
    return cri_api_pb2


class Runtime:
    """The kubelet's side of runtime.v1.RuntimeService, one method per call."""

    def __init__(self, cri, address):
        import grpc
        self.channel = grpc.insecure_channel("unix://" + address)
        service = cri.DESCRIPTOR.services_by_name["RuntimeService"]
        for m in service.methods:
            request = getattr(cri, m.input_type.name)
            response = getattr(cri, m.output_type.name)
            call = self.channel.unary_unary("/runtime.v1.RuntimeService/" + m.name,
                                            request_serializer=request.SerializeToString,
                                            response_deserializer=response.FromString)
            setattr(self, m.name, self._bind(call, request))

    @staticmethod
    def _bind(call, request):
        # The call's own deadline is not a keyword: StopContainer and ExecSync have a field
        # named timeout.
        def invoke(**fields):
            return call(request(**fields), timeout=300)
        return invoke


# ---- images, written as OCI layouts -------------------------------------------------------

def _blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs/sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest


def oci_image(path, name, files, entrypoint):
    """An OCI image archive of one layer: files maps a path in the image to a host file, a
    symlink target ('->target') or None for a directory."""
    layout = path + ".d"
    os.makedirs(os.path.join(layout, "blobs/sha256"))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for inner, source in sorted(files.items()):
            info = tarfile.TarInfo(inner)
            info.mtime = 0
            if source is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif source.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, source[2:]
                t.addfile(info)
            else:
                with open(source, "rb") as f:
                    data = f.read()
                info.size, info.mode = len(data), 0o755
                t.addfile(info, io.BytesIO(data))
    diff = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": entrypoint, "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(layout, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _blob(layout, layer), "size": len(layer)}],
    }).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": _blob(layout, manifest), "size": len(manifest),
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with tarfile.open(path, "w") as t:
        for entry in sorted(os.listdir(layout)):
            t.add(os.path.join(layout, entry), entry)
    shutil.rmtree(layout)


def busybox_files(extra):
    files = {d: None for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "var", "run")}
    files["bin/busybox"] = "/bin/busybox"
    for tool in ("sh", "sleep", "cat", "echo", "head", "readlink", "true", "id", "ls", "mkdir", "wc"):
        files["bin/" + tool] = "->busybox"
    files.update(extra)
    return files


# ---- containerd --------------------------------------------------------------------------

class Containerd:
    """containerd with its CRI plugin, on directories of the node's own."""

    def __init__(self, work, oci, source, cri):
        import grpc
        self.work, self.oci, self.source = work, oci, source
        self.socket = os.path.join(work, "ctd.sock")
        self.cni_dir = os.path.join(work, "cni")
        os.makedirs(self.cni_dir)
        with open(os.path.join(self.cni_dir, "10-caisson-test.conflist"), "w") as f:
            json.dump({"cniVersion": "0.4.0", "name": "caisson-cri-test", "plugins": [{
                "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]],
                         "dataDir": os.path.join(work, "cni-ipam")}}]}, f)
        self.config = os.path.join(work, "containerd.toml")
        with open(self.config, "w") as f:
            f.write(self.config_text())
        self.log = open(os.path.join(work, "containerd.log"), "wb")
        self.process = subprocess.Popen(["/usr/bin/containerd", "--config", self.config],
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.runtime = Runtime(cri, self.socket)
        try:
            grpc.channel_ready_future(self.runtime.channel).result(timeout=60)
            self.wait_ready()
        except Exception:
            self.stop()
            tail = read_text(os.path.join(work, "containerd.log")).splitlines()[-40:]
            sys.stderr.write("containerd's log:\n" + "\n".join(tail) + "\n")
            raise

    def config_text(self):
        """The runtime entry exactly as docs/kubernetes/containerd-caisson.toml gives it, with
        this build's caisson-oci and the runtime state under the test's directory; around it,
        what a node's containerd has already (the CRI plugin's images, CNI, streaming)."""
        with open(os.path.join(self.source, "docs/kubernetes/containerd-caisson.toml")) as f:
            entry = f.read()
        installed = 'BinaryName = "/usr/local/bin/caisson-oci"'
        if installed not in entry:
            raise AssertionError("docs/kubernetes/containerd-caisson.toml no longer names " + installed)
        entry = entry.replace(installed, 'BinaryName = "%s"\n    Root = "%s/caisson-oci"' % (self.oci, self.work))
        w = self.work
        return ("# the test's own containerd: nothing of a system containerd is touched\n"
                'root = "%s/root"\nstate = "%s/state"\n' % (w, w) + entry +
                '\n[grpc]\n  address = "%s"\n' % self.socket +
                '[ttrpc]\n  address = "%s/ttrpc.sock"\n' % w +
                # containerd's opt plugin makes /opt/containerd unless told otherwise.
                '[plugins."io.containerd.internal.v1.opt"]\n  path = "%s/opt"\n' % w +
                '[plugins."io.containerd.grpc.v1.cri"]\n'
                '  sandbox_image = "%s"\n' % PAUSE_IMAGE +
                '  stream_server_address = "127.0.0.1"\n  stream_server_port = "0"\n'
                # The pods' network namespaces under the test's state, not in /var/run/netns.
                '  netns_mounts_under_state_dir = true\n' +
                # containerd gives the pod's sandbox -998 (and the kubelet asks -997 for a
                # Guaranteed pod); lowering a score takes CAP_SYS_RESOURCE, which some
                # machines' root lacks (ours, a user namespace's). There containerd's own
                # option raises any score below its own to its own, as rootless Kubernetes
                # sets it.
                ("" if has_capability(CAP_SYS_RESOURCE) else "  restrict_oom_score_adj = true\n") +
                # The node's other handlers, beside caisson: runc (containerd's default) and
                # crun, both through the same shim, for the benchmark's comparison.
                ''.join('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s]\n'
                        '  runtime_type = "io.containerd.runc.v2"\n'
                        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s.options]\n'
                        '  BinaryName = "%s"\n  Root = "%s/%s"\n' % (name, name, binary, w, name)
                        for name, binary in (("runc", "/usr/bin/runc"), ("crun", "/usr/bin/crun"))) +
                '[plugins."io.containerd.grpc.v1.cri".cni]\n'
                '  bin_dir = "/usr/lib/cni"\n  conf_dir = "%s"\n' % self.cni_dir)

    def wait_ready(self):
        """The CRI reports RuntimeReady and NetworkReady once it has loaded the CNI config."""
        deadline = time.monotonic() + 60
        while True:
            conditions = {c.type: c for c in self.runtime.Status().status.conditions}
            if all(conditions.get(k) and conditions[k].status for k in ("RuntimeReady", "NetworkReady")):
                return
            if time.monotonic() > deadline:
                raise AssertionError("containerd's CRI is not ready: " + str(conditions))
            time.sleep(0.1)

    def ctr(self, *args, check=True):
        return subprocess.run(["/usr/bin/ctr", "-a", self.socket, "-n", "k8s.io", *args], check=check,
                              capture_output=True, text=True)

    def stop(self):
        if self.process.poll() is not None:
            return
        self.runtime.channel.close()
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


# ---- what the host shows ------------------------------------------------------------------

def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def landlock_abi():
    """The kernel's Landlock ABI, as caisson asks for it; 0 without Landlock."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_landlock_create_ruleset, LANDLOCK_CREATE_RULESET_VERSION = 444, 1
    v = libc.syscall(SYS_landlock_create_ruleset, None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(v, 0)


def cgroup2_mounted():
    with open("/proc/self/mountinfo") as f:
        return any(line.split(" - ")[1].split()[0] == "cgroup2" for line in f)


def has_capability(bit):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    return False


CAP_SYS_RESOURCE = 24


def cgroup_v1_roots():
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ")
            if right.split()[0] == "cgroup":
                roots.append(left.split()[4])
    return roots


def cgroup_roots():
    """Every cgroup hierarchy's mount, v1 and v2."""
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ")
            if right.split()[0] in ("cgroup", "cgroup2"):
                roots.append(left.split()[4])
    return roots


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def processes_in(cgroup_fragment):
    """Pids on the host whose cgroup path holds the fragment."""
    out = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cgroup") as f:
                if cgroup_fragment in f.read():
                    out.append(int(d[6:]))
        except OSError:
            pass
    return out


def kill_and_wait(pids):
    """SIGKILL each, through a pidfd (never a reused pid), and wait until each is gone: a
    process leaves its cgroup only then."""
    import select
    fds = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        fds.append(fd)
    for fd in fds:
        select.select([fd], [], [], 10)  # readable once the process has ended
        os.close(fd)


def ns_of(pid, kind):
    return os.readlink("/proc/%d/ns/%s" % (pid, kind))


def status_of(text):
    """The exec's end, from the error channel's metav1.Status: 0, or the exit code."""
    if not text:
        return None
    s = json.loads(text)
    if s.get("status") == "Success":
        return 0
    for cause in s.get("details", {}).get("causes", []):
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise AssertionError("exec failed: " + text)


def stream_exec(url, stdin=None):
    """kubectl exec's websocket (v4.channel.k8s.io): one byte of channel, then the data;
    0 stdin, 1 stdout, 2 stderr, 3 the status."""
    import websocket
    ws = websocket.create_connection(url.replace("http://", "ws://", 1), subprotocols=["v4.channel.k8s.io"],
                                     timeout=60)
    if stdin is not None:
        ws.send_binary(b"\x00" + stdin)
    out = {1: b"", 2: b"", 3: b""}
    while True:
        try:
            op, data = ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            break
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        if data:
            out[data[0]] = out.get(data[0], b"") + data[1:]
    ws.close()
    return out[1], out[2], status_of(out[3].decode())


# ---- pods and the node ----------------------------------------------------------------------

class Pod:
    """A pod as the kubelet makes one: a sandbox, then containers in it."""
    count = 0

    def __init__(self, node, annotations=None, pid_mode=None, handler="caisson", image=TEST_IMAGE):
        Pod.count += 1
        cri = self.cri = node.cri
        pid_mode = cri.CONTAINER if pid_mode is None else pid_mode
        self.rt, self.image = node.runtime, image
        self.uid = "caisson-test-%d-%d" % (os.getpid(), Pod.count)
        # The kubelet's cgroupfs layout (kubepods/<class>/pod<uid>): the pod's parent under
        # the node's top, which the node removes, as the kubelet does.
        self.parent = "/%s/pod%s" % (node.cgroup_top, self.uid)
        self.logs = os.path.join(node.work, "logs", self.uid)
        os.makedirs(self.logs)
        self.config = cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(name="pod%d" % Pod.count, uid=self.uid, namespace="caisson-test"),
            hostname="pod%d" % Pod.count, log_directory=self.logs, annotations=annotations or {},
            linux=cri.LinuxPodSandboxConfig(
                cgroup_parent=self.parent,
                security_context=cri.LinuxSandboxSecurityContext(
                    namespace_options=cri.NamespaceOption(network=cri.POD, pid=pid_mode, ipc=cri.POD))))
        self.id = self.rt.RunPodSandbox(config=self.config, runtime_handler=handler).pod_sandbox_id
        node.pod_ids.append(self.id)
        self.pid_mode = pid_mode
        self.containers = []
        self.removed = False

    @property
    def netns(self):
        """The path of the pod's network namespace, as containerd mounted it."""
        spec = self.info()["runtimeSpec"]["linux"]["namespaces"]
        return [n["path"] for n in spec if n["type"] == "network"][0]

    def info(self):
        return json.loads(self.rt.PodSandboxStatus(pod_sandbox_id=self.id, verbose=True).info["info"])

    def container(self, name, command, resources=None, annotations=None, start=True, drop=()):
        """drop: capabilities the container's securityContext drops ("NET_RAW")."""
        cri = self.cri
        config = cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name=name), image=cri.ImageSpec(image=self.image),
            command=command, log_path=name + ".log", annotations=annotations or {},
            linux=cri.LinuxContainerConfig(
                resources=resources or cri.LinuxContainerResources(),
                security_context=cri.LinuxContainerSecurityContext(
                    capabilities=cri.Capability(drop_capabilities=list(drop)),
                    namespace_options=cri.NamespaceOption(network=cri.POD, pid=self.pid_mode, ipc=cri.POD))))
        cid = self.rt.CreateContainer(pod_sandbox_id=self.id, config=config, sandbox_config=self.config).container_id
        self.containers.append(cid)
        if start:
            self.rt.StartContainer(container_id=cid)
        return cid

    def container_pid(self, cid):
        return json.loads(self.rt.ContainerStatus(container_id=cid, verbose=True).info["info"])["pid"]

    def exec_probe(self, cid, *args):
        r = self.rt.ExecSync(container_id=cid, cmd=["/probe", *args], timeout=60)
        if r.exit_code != 0:
            raise AssertionError("the probe failed: %d %s" % (r.exit_code, r.stderr.decode()))
        return json.loads(r.stdout)

    def remove(self):
        """The kubelet's teardown; once done, again is nothing."""
        if self.removed:
            return
        for cid in self.containers:
            self.rt.StopContainer(container_id=cid, timeout=0)
            self.rt.RemoveContainer(container_id=cid)
        self.rt.StopPodSandbox(pod_sandbox_id=self.id)
        self.rt.RemovePodSandbox(pod_sandbox_id=self.id)
        self.removed = True


class Node:
    """A node: its directory, containerd, the images; `with` takes it all down."""

    def __init__(self, oci, probe, source):
        self.work = tempfile.mkdtemp(prefix="caisson-test-cri-", dir="/tmp")
        os.chmod(self.work, 0o755)
        self.cgroup_top = "caisson-cri-%d" % os.getpid()
        self.ctd = None
        self.pod_ids = []
        # The CNI bridge plugin, as a gateway, turns the host's IPv4 forwarding on: the sweep
        # puts it back.
        self.ip_forward = read_text("/proc/sys/net/ipv4/ip_forward")
        try:
            self.cri = load_api(self.work, source)
            self.ctd = Containerd(self.work, oci, source, self.cri)
            self.runtime = self.ctd.runtime
            images = os.path.join(self.work, "images")
            os.makedirs(images)
            oci_image(images + "/pause.tar", PAUSE_IMAGE, busybox_files({}), ["/bin/sleep", "2147483647"])
            oci_image(images + "/test.tar", TEST_IMAGE, busybox_files({"probe": probe}), ["/bin/sh"])
            for tar in ("pause.tar", "test.tar"):
                self.ctd.ctr("images", "import", os.path.join(images, tar))
        except BaseException:
            self.sweep()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sweep()

    def pod(self, **kw):
        return Pod(self, **kw)

    def remove_cgroups(self):
        for root in cgroup_roots():
            for d in sorted(glob.glob(os.path.join(root, self.cgroup_top) + "/**/", recursive=True),
                            key=len, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    pass

    def sweep_pods(self):
        """Every pod, as the kubelet removes one (its containers go with it)."""
        for p in self.runtime.ListPodSandbox().items:
            self.runtime.StopPodSandbox(pod_sandbox_id=p.id)
            self.runtime.RemovePodSandbox(pod_sandbox_id=p.id)
        self.remove_cgroups()

    def sweep(self):
        """Every pod as the kubelet removes it, then containerd; then, as a last resort,
        whatever a failure left."""
        if self.ctd and self.ctd.process.poll() is None:
            try:
                self.sweep_pods()
            except Exception as e:  # noqa: BLE001 - the sweep goes on to what follows
                sys.stderr.write("kubelet: removing the pods failed: %s\n" % e)
            self.ctd.stop()
        address = os.path.join(self.work, "ctd.sock")
        shims = subprocess.run(["pgrep", "-f", "containerd-shim-runc-v2 .*-address " + address],
                               capture_output=True, text=True).stdout.split()
        kill_and_wait([int(p) for p in shims] + processes_in("/" + self.cgroup_top + "/"))
        # A shim that was killed leaves its socket where containerd 1.6 puts every shim's,
        # named by a hash of containerd's address, the namespace and the sandbox's id.
        for pid in self.pod_ids:
            digest = hashlib.sha256(os.path.join(address, "k8s.io", pid).encode()).hexdigest()
            try:
                os.unlink("/run/containerd/s/" + digest)
            except FileNotFoundError:
                pass
        self.remove_cgroups()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        if read_text("/proc/sys/net/ipv4/ip_forward") != self.ip_forward:
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write(self.ip_forward)
        for m in sorted(mounts_under(self.work), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
