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
        inside = pod.exec_probe(c)
        memory_line = [l for l in inside["cgroup"].splitlines() if ":memory:" in l]
        self.assertTrue(memory_line, inside["cgroup"])
        path = memory_line[0].split(":", 2)[2]
        # The container's cgroup namespace may hide the path; the host's view is the truth.
        with open("/proc/%d/cgroup" % pod.container_pid(c)) as f:
            host_view = {l.split(":", 2)[1]: l.split(":", 2)[2] for l in f.read().splitlines()}
        self.assertTrue(host_view["memory"].startswith(pod.parent + "/"), host_view["memory"])
        self.assertTrue(host_view["memory"].endswith(c), host_view["memory"])
        sandbox_cg = {}
        with open("/proc/%d/cgroup" % pod.info()["pid"]) as f:
            sandbox_cg = {l.split(":", 2)[1]: l.split(":", 2)[2] for l in f.read().splitlines()}
        self.assertTrue(sandbox_cg["memory"].startswith(pod.parent + "/"), sandbox_cg["memory"])

        def read(controller, name):
            key = [k for k in host_view if controller in k.split(",")][0]
            root = [r for r in cgroup_v1_roots() if controller in os.path.basename(r).split(",")][0]
            with open(root + host_view[key] + "/" + name) as f:
                return f.read().strip()
        self.assertEqual(read("memory", "memory.limit_in_bytes"), str(64 << 20))
        self.assertEqual(read("cpu", "cpu.cfs_quota_us"), "50000")
        self.assertEqual(read("cpu", "cpu.cfs_period_us"), "100000")
        self.assertEqual(read("cpu", "cpu.shares"), "512")
        with open("/proc/%d/oom_score_adj" % pod.container_pid(c)) as f:
            self.assertEqual(f.read().strip(), "1000")
        del path

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
        shims_before = self.shims()
        pod.remove()
        self.assertEqual(list(self.rt.ListContainers(filter=cri.ContainerFilter(pod_sandbox_id=pod.id)).containers), [])
        import grpc
        with self.assertRaises(grpc.RpcError):
            self.rt.PodSandboxStatus(pod_sandbox_id=pod.id)
        self.assertEqual(processes_in(pod.parent), [], "processes left in the pod's cgroup")
        top = pod.parent.split("/")[1]
        left = [d for root in cgroup_roots()
                for d in glob.glob(os.path.join(root, top) + "/**/", recursive=True)
                if os.path.basename(d.rstrip("/")).startswith(tuple(pod.containers + [pod.id]))]
        self.assertEqual(left, [], "cgroups left")
        self.assertEqual([m for m in mounts_under(WORK) if pod.id in m or any(c in m for c in pod.containers)], [],
                         "mounts left")
        self.assertTrue(pod.netns.startswith(WORK), pod.netns)
        self.assertEqual(mounts_under(pod.netns), [], "the pod's network namespace is still mounted")
        self.assertFalse(os.path.exists(pod.netns), "the pod's network namespace file is left")
        state = os.path.join(WORK, "runc", "k8s.io")
        self.assertEqual([e for e in os.listdir(state) if e in pod.containers + [pod.id]] if os.path.isdir(state) else [],
                         [], "caisson-oci state left")
        self.assertLess(len(self.shims()), len(shims_before) if shims_before else 1, "the pod's shim is left")

    def shims(self):
        out = subprocess.run(["pgrep", "-f", "containerd-shim-runc-v2 .*-address " + NODE.ctd.socket],
                             capture_output=True, text=True).stdout
        return out.split()

    def test_caissons_annotations_reach_the_pods_containers(self):
        if landlock_abi() < 1:
            self.skipTest("this kernel has no Landlock")
        # Landlock by a pod annotation, and the egress filter by a container annotation.
        pod = self.pod(annotations={"org.caisson.landlock-rx": "/probe,/bin", "org.caisson.landlock-ro": "/proc",
                                    "org.caisson.landlock-rw": "/tmp"})
        c = pod.container("held", ["/bin/sleep", "1000"])
        inside = pod.exec_probe(c, "--write", "/tmp/x", "--write", "/etc/x", "--read", "/etc/hostname")
        self.assertEqual(inside["writes"]["/tmp/x"], "ok")
        self.assertEqual(inside["writes"]["/etc/x"], "EACCES")
        self.assertEqual(inside["reads"]["/etc/hostname"], "EACCES")
        self.assertEqual(inside["status"]["NoNewPrivs"], "1")
        plain = self.pod()
        free = plain.container("free", ["/bin/sleep", "1000"])
        self.assertEqual(plain.exec_probe(free, "--write", "/etc/x")["writes"]["/etc/x"], "ok")

    def test_egress_rules_by_annotation(self):
        if not cgroup2_mounted():
            self.skipTest("the egress filter needs a cgroup2 hierarchy (none mounted here)")
        pod = self.pod()
        listener = socket.socket()
        listener.bind((GATEWAY, 0))
        listener.listen(4)
        self.addCleanup(listener.close)
        port = listener.getsockname()[1]
        fenced = pod.container("fenced", ["/bin/sleep", "1000"],
                               annotations={"org.caisson.allow-connect": "10.233.31.0/24:%d" % port})
        free = pod.container("free", ["/bin/sleep", "1000"])
        dial = "tcp:%s:%d" % (GATEWAY, port)
        self.assertEqual(pod.exec_probe(free, "--dial", dial)["dials"][dial], "ok")
        self.assertEqual(pod.exec_probe(fenced, "--dial", dial)["dials"][dial], "EPERM")


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
