"""Pods through containerd's CRI, with caisson-oci as the runtime handler "caisson".

The test is the kubelet (kubelet.py): CRI over containerd's gRPC socket, exec streamed over
the CRI streaming server's websocket as kubectl exec does, the pod network from the CNI
bridge plugin, images written here with no registry. What a pod must show is asserted from
inside with the probe and from outside in the host's /proc and cgroup files.

Run by ctest (cri.pods): pod_test.py CAISSON_OCI PROBE SOURCE_DIR. Exits 77 (skipped) when
containerd, its CNI plugins or the Python gRPC modules are missing, or not run as root.
"""
import glob
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # run as root from the checkout: no compiled files left in it
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kubelet  # noqa: E402
from kubelet import GATEWAY, cgroup_roots, cgroup_v1_roots, cgroup2_mounted, landlock_abi, mounts_under, ns_of, processes_in, read_text, stream_exec  # noqa: E402,E501

OCI, PROBE, SOURCE = [a and os.path.abspath(a) for a in (sys.argv[1:4] + [None] * 3)[:3]]
NODE = cri = WORK = None  # set in __main__, before the tests run


class Pods(unittest.TestCase):
    def setUp(self):
        self.rt = NODE.runtime

    def pod(self, **kw):
        p = NODE.pod(**kw)
        self.addCleanup(NODE.remove_cgroups)
        self.addCleanup(p.remove)
        return p

    def test_containers_share_the_pods_network_and_ipc_but_not_its_pids(self):
        pod = self.pod()
        a = pod.container("a", ["/bin/sleep", "1000"])
        b = pod.container("b", ["/bin/sleep", "1000"])
        sandbox_pid = pod.info()["pid"]
        inside_a, inside_b = pod.exec_probe(a), pod.exec_probe(b)
        for kind in ("net", "ipc"):
            self.assertEqual(inside_a["ns"][kind], ns_of(sandbox_pid, kind), kind)
            self.assertEqual(inside_b["ns"][kind], ns_of(sandbox_pid, kind), kind)
        self.assertNotEqual(inside_a["ns"]["pid"], inside_b["ns"]["pid"])
        self.assertNotEqual(inside_a["ns"]["pid"], ns_of(sandbox_pid, "pid"))
        self.assertNotEqual(inside_a["ns"]["net"], ns_of(os.getpid(), "net"), "the pod's network is its own")
        # From outside: the containers' processes are in the pod's network namespace.
        self.assertEqual(ns_of(pod.container_pid(a), "net"), ns_of(sandbox_pid, "net"))
        # The CNI bridge gave the pod its address, and the containers see it.
        ip = self.rt.PodSandboxStatus(pod_sandbox_id=pod.id).status.network.ip
        self.assertTrue(ip.startswith("10.233.30."), ip)
        self.assertIn(ip, json.dumps(inside_b["interfaces"]))

    def test_a_pod_asked_for_one_pid_namespace_has_one(self):
        pod = self.pod(pid_mode=cri.POD)
        a = pod.container("a", ["/bin/sleep", "1000"])
        b = pod.container("b", ["/bin/sleep", "1000"])
        self.assertEqual(pod.exec_probe(a)["ns"]["pid"], pod.exec_probe(b)["ns"]["pid"])
        self.assertEqual(ns_of(pod.container_pid(a), "pid"), ns_of(pod.info()["pid"], "pid"))

    def test_the_pods_cgroup_parent_holds_the_containers_with_their_limits(self):
        pod = self.pod()
        limits = cri.LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=512,
                                             memory_limit_in_bytes=64 << 20, oom_score_adj=1000)
        c = pod.container("limited", ["/bin/sleep", "1000"], resources=limits)
        # Inside, the container's own cgroup namespace may hide the path; the host's view
        # (/proc/PID/cgroup from outside) is the truth.
        self.assertTrue(pod.exec_probe(c)["cgroup"])

        def cgroups_of(pid):
            with open("/proc/%d/cgroup" % pid) as f:
                return {l.split(":", 2)[1]: l.split(":", 2)[2] for l in f.read().splitlines()}
        host_view, sandbox_view = cgroups_of(pod.container_pid(c)), cgroups_of(pod.info()["pid"])
        v1 = "memory" in host_view
        key = "memory" if v1 else ""  # a pure cgroup v2 host has the one line "0::PATH"
        for view, ends in ((host_view, c), (sandbox_view, pod.id)):
            self.assertTrue(view[key].startswith(pod.parent + "/"), view[key])
            self.assertTrue(view[key].endswith(ends), view[key])

        def read(controller, name):
            if not v1:
                with open("/sys/fs/cgroup" + host_view[""] + "/" + name) as f:
                    return f.read().strip()
            k = [k for k in host_view if controller in k.split(",")][0]
            root = [r for r in cgroup_v1_roots() if controller in os.path.basename(r).split(",")][0]
            with open(root + host_view[k] + "/" + name) as f:
                return f.read().strip()
        if v1:
            self.assertEqual(read("memory", "memory.limit_in_bytes"), str(64 << 20))
            self.assertEqual(read("cpu", "cpu.cfs_quota_us"), "50000")
            self.assertEqual(read("cpu", "cpu.cfs_period_us"), "100000")
            self.assertEqual(read("cpu", "cpu.shares"), "512")
        else:
            self.assertEqual(read("memory", "memory.max"), str(64 << 20))
            self.assertEqual(read("cpu", "cpu.max"), "50000 100000")
        with open("/proc/%d/oom_score_adj" % pod.container_pid(c)) as f:
            self.assertEqual(f.read().strip(), "1000")

    def test_status_list_and_stats(self):
        pod = self.pod()
        c = pod.container("a", ["/bin/sleep", "1000"])
        status = self.rt.ContainerStatus(container_id=c).status
        self.assertEqual(status.state, cri.CONTAINER_RUNNING)
        self.assertEqual(status.metadata.name, "a")
        self.assertGreater(status.started_at, 0)
        listed = self.rt.ListContainers(filter=cri.ContainerFilter(pod_sandbox_id=pod.id)).containers
        self.assertEqual([(x.id, x.state) for x in listed], [(c, cri.CONTAINER_RUNNING)])
        pod.exec_probe(c, "--alloc", "8")
        stats = self.rt.ContainerStats(container_id=c).stats
        self.assertEqual(stats.attributes.id, c)
        self.assertGreater(stats.memory.working_set_bytes.value, 0)
        self.assertGreater(stats.cpu.usage_core_nano_seconds.value, 0)

    def test_exec_sync_and_streamed_exec_return_output_and_exit_code(self):
        pod = self.pod()
        c = pod.container("a", ["/bin/sleep", "1000"])
        r = self.rt.ExecSync(container_id=c, cmd=["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], timeout=60)
        self.assertEqual((r.stdout, r.stderr, r.exit_code), (b"out\n", b"err\n", 3))
        url = self.rt.Exec(container_id=c, cmd=["/bin/sh", "-c", "echo out; echo err >&2; exit 4"],
                           stdout=True, stderr=True).url
        self.assertEqual(stream_exec(url), (b"out\n", b"err\n", 4))
        url = self.rt.Exec(container_id=c, cmd=["/bin/head", "-c", "5"], stdin=True, stdout=True).url
        self.assertEqual(stream_exec(url, stdin=b"hello"), (b"hello", b"", 0))
        # The exec'd process is in the container, not beside it.
        inside = pod.exec_probe(c)
        self.assertEqual(inside["ns"]["pid"], ns_of(pod.container_pid(c), "pid"))
        self.assertEqual(inside["ns"]["mnt"], ns_of(pod.container_pid(c), "mnt"))

    def test_logs_reach_the_cri_log_path_in_the_kubelets_format(self):
        pod = self.pod()
        c = pod.container("talker", ["/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; echo -n partial"])
        self.wait_exited(c)
        lines = read_text(os.path.join(pod.logs, "talker.log")).splitlines()
        timestamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"
        for line in lines:
            self.assertRegex(line, "^" + timestamp + " (stdout|stderr) [FP] ")
        tails = sorted(line.split(" ", 1)[1] for line in lines)
        self.assertEqual(tails, ["stderr F to-stderr", "stdout F to-stdout", "stdout P partial"])
        self.assertEqual(self.rt.ContainerStatus(container_id=c).status.exit_code, 0)

    def wait_exited(self, cid):
        # containerd 1.6's CRI has no GetContainerEvents: a kubelet polls, as its PLEG does.
        deadline = time.monotonic() + 60
        while self.rt.ContainerStatus(container_id=cid).status.state != cri.CONTAINER_EXITED:
            self.assertLess(time.monotonic(), deadline, "the container did not end")
            time.sleep(0.05)

    def test_stop_honours_the_grace_period(self):
        pod = self.pod()
        # The probe handles SIGTERM: it ends within the grace period, reporting the signal.
        polite = pod.container("polite", ["/probe", "--wait-signal"])
        # A pid 1 without a handler never sees SIGTERM: only the kill at the period's end ends it.
        deaf = pod.container("deaf", ["/bin/sleep", "1000"])
        log = os.path.join(pod.logs, "polite.log")
        # The probe's "ready" reaches the test only through the CRI log (the CRI has no
        # other way out of a container): polled, with a deadline.
        deadline = time.monotonic() + 60
        while not (os.path.exists(log) and "ready" in read_text(log)):
            self.assertLess(time.monotonic(), deadline, "the probe did not start")
            time.sleep(0.05)
        began = time.monotonic()
        self.rt.StopContainer(container_id=polite, timeout=30)
        polite_took = time.monotonic() - began
        status = self.rt.ContainerStatus(container_id=polite).status
        self.assertEqual((status.state, status.exit_code), (cri.CONTAINER_EXITED, 0))
        self.assertIn('"signal":"TERM"', read_text(log))
        self.assertLess(polite_took, 30, "a process that ends on SIGTERM is not waited for")
        began = time.monotonic()
        self.rt.StopContainer(container_id=deaf, timeout=2)
        deaf_took = time.monotonic() - began
        status = self.rt.ContainerStatus(container_id=deaf).status
        self.assertEqual((status.state, status.exit_code), (cri.CONTAINER_EXITED, 137))
        self.assertGreaterEqual(deaf_took, 2, "the grace period is waited out before SIGKILL")

    def test_nothing_is_left_after_remove_pod_sandbox(self):
        pod = self.pod()
        a = pod.container("a", ["/bin/sleep", "1000"])
        pod.container("b", ["/bin/sh", "-c", "exit 0"])
        pod.exec_probe(a)
        netns = pod.netns
        self.assertTrue(netns.startswith(WORK), netns)
        self.assertTrue(self.shims(pod.id), "the pod has its shim")
        pod.remove()
        self.assertEqual(list(self.rt.ListContainers(filter=cri.ContainerFilter(pod_sandbox_id=pod.id)).containers), [])
        import grpc
        with self.assertRaises(grpc.RpcError):
            self.rt.PodSandboxStatus(pod_sandbox_id=pod.id)
        self.assertEqual(processes_in(pod.parent + "/"), [], "processes left in the pod's cgroup")
        # The pod's parent is the kubelet's to remove; nothing of the runtime's is left in it.
        left = [d for root in cgroup_roots() for d in glob.glob(root + pod.parent + "/*/")]
        self.assertEqual(left, [], "cgroups left")
        self.assertEqual([m for m in mounts_under(WORK) if pod.id in m or any(c in m for c in pod.containers)], [],
                         "mounts left")
        self.assertEqual(mounts_under(netns), [], "the pod's network namespace is still mounted")
        self.assertFalse(os.path.exists(netns), "the pod's network namespace file is left")
        state = os.path.join(WORK, "caisson-oci", "k8s.io")
        self.assertEqual([e for e in os.listdir(state) if e in pod.containers + [pod.id]] if os.path.isdir(state) else [],
                         [], "caisson-oci state left")
        self.assertEqual(self.shims(pod.id), [], "the pod's shim is left")

    def shims(self, sandbox_id):
        """The pod's shim (containerd 1.6 runs one per pod, named by the sandbox's id)."""
        out = subprocess.run(["pgrep", "-f", "containerd-shim-runc-v2 -namespace k8s.io -id %s -address %s"
                              % (sandbox_id, NODE.ctd.socket)], capture_output=True, text=True).stdout
        return out.split()

    def test_caissons_annotations_reach_the_pods_containers(self):
        if landlock_abi() < 1:
            self.skipTest("this kernel has no Landlock")
        # Landlock by a pod's annotations, in each of its containers (the pause container,
        # whose image lacks /probe, runs: it takes no Landlock).
        pod = self.pod(annotations={"org.caisson.landlock-rx": "/probe,/bin", "org.caisson.landlock-ro": "/proc",
                                    "org.caisson.landlock-rw": "/tmp"})
        for name in ("held", "held-too"):
            c = pod.container(name, ["/bin/sleep", "1000"])
            inside = pod.exec_probe(c, "--write", "/tmp/x", "--write", "/etc/x", "--read", "/etc/hostname")
            self.assertEqual(inside["writes"]["/tmp/x"], "ok", name)
            self.assertEqual(inside["writes"]["/etc/x"], "EACCES", name)
            self.assertEqual(inside["reads"]["/etc/hostname"], "EACCES", name)
            self.assertEqual(inside["status"]["NoNewPrivs"], "1", name)
        plain = self.pod()
        free = plain.container("free", ["/bin/sleep", "1000"])
        self.assertEqual(plain.exec_probe(free, "--write", "/etc/x")["writes"]["/etc/x"], "ok")

    def test_egress_rules_by_annotation(self):
        # The egress filter lives on the container's cgroup v2 directory (a hybrid host's
        # empty cgroup2 serves), as caisson-oci needs it.
        if not cgroup2_mounted():
            self.skipTest("the egress filter needs a cgroup2 hierarchy (none mounted here)")
        # Two listeners on the host's side of the pod's bridge: one the rule allows, one not.
        ports = []
        for _ in range(2):
            listener = socket.socket()
            listener.bind((GATEWAY, 0))
            listener.listen(4)
            self.addCleanup(listener.close)
            ports.append(listener.getsockname()[1])
        allowed, other_port = ("tcp:%s:%d" % (GATEWAY, p) for p in ports)
        other_address = "tcp:127.0.0.1:%d" % ports[0]  # the allowed port, elsewhere
        dials = ("--dial", allowed, "--dial", other_port, "--dial", other_address)
        # A pod's annotation, as a cluster sets it; a container's own, as a CRI client can.
        # Two layers answer: the cgroup's filter (addresses and ports) with EPERM, Landlock's
        # connect rule (ports alone) with EACCES, first.
        for where in ("pod", "container"):
            rule = {"org.caisson.allow-connect": "%s/32:%d" % (GATEWAY, ports[0])}
            pod = self.pod(annotations=rule if where == "pod" else None)
            # containerd keeps NET_RAW by default, whose packet sockets would pass around the
            # filter: caisson-oci refuses the rule with it, and the pod drops it, as a pod with
            # egress rules must.
            fenced = pod.container("fenced", ["/bin/sleep", "1000"], annotations=rule if where == "container" else None,
                                   drop=["NET_RAW"])
            got = pod.exec_probe(fenced, *dials)["dials"]
            by_port = "EACCES" if landlock_abi() >= 4 else "EPERM"  # Landlock's TCP rules: ABI 4
            self.assertEqual((got[allowed], got[other_port], got[other_address]), ("ok", by_port, "EPERM"), where)
        # The same rule with containerd's NET_RAW kept is refused when the container is made.
        import grpc  # here: without it the whole file skips (kubelet.missing)
        with self.assertRaises(grpc.RpcError) as refused:
            pod.container("raw", ["/bin/sleep", "1000"], annotations={"org.caisson.allow-connect": "%s/32:%d" % (GATEWAY, ports[0])})
        self.assertIn("CAP_NET_RAW", refused.exception.details())
        free = pod.container("free", ["/bin/sleep", "1000"])
        got = pod.exec_probe(free, *dials)["dials"]
        self.assertEqual((got[allowed], got[other_port], got[other_address]), ("ok", "ok", "ECONNREFUSED"),
                         "a container without the rule")


if __name__ == "__main__":
    why = kubelet.missing(OCI)
    if why:
        print("SKIP: " + why)
        sys.exit(77)
    with kubelet.Node(OCI, PROBE, SOURCE) as NODE:
        cri = NODE.cri
        WORK = NODE.work
        result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)
