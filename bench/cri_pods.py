"""Pod start through containerd's CRI, caisson-oci against runc and crun, in one run.

For each pod, as the kubelet does it: RunPodSandbox (the pause container, its network from
the CNI bridge), then CreateContainer and StartContainer of one container running
`sleep`; the time is from the first call to StartContainer's answer, the container running.
The handlers take turns pod by pod, in a rotating order; each pod is removed (untimed)
before the next. The node is tests/cri/kubelet.py's: containerd of its own, the same images,
one runc shim for every handler, so only the OCI runtime differs.

    bench/cri_pods.py CAISSON_OCI PROBE SOURCE_DIR [PODS_PER_HANDLER] [ROUNDS]
"""
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "cri"))
import kubelet  # noqa: E402

oci, probe, source = (os.path.abspath(a) for a in sys.argv[1:4])
pods = int(sys.argv[4]) if len(sys.argv) > 4 else 20
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3

why = kubelet.missing(oci)
if why:
    print("skipped: " + why)
    sys.exit(0)
# The paths tests/cri/kubelet.py's containerd names for them.
handlers = ["caisson"] + [h for h, b in (("runc", "/usr/bin/runc"), ("crun", "/usr/bin/crun")) if os.access(b, os.X_OK)]


def p90(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.9 * len(xs)))]


refused = {}
with kubelet.Node(oci, probe, source) as node:
    for h in list(handlers):  # one untimed pod each: images unpacked, caches warm
        try:
            p = node.pod(handler=h)
            p.container("warm", ["/bin/sleep", "1000"])
            p.remove()
        except Exception as e:  # noqa: BLE001 - a runtime this machine's layout refuses
            refused[h] = e.details() if hasattr(e, "details") else str(e)
            handlers.remove(h)
        node.sweep_pods()
    times = {h: {"total": [], "sandbox": [], "container": []} for h in handlers}
    for r in range(rounds):
        for i in range(pods):
            order = handlers[(i + r) % len(handlers):] + handlers[:(i + r) % len(handlers)]
            for h in order:
                t0 = time.perf_counter()
                p = node.pod(handler=h)
                t1 = time.perf_counter()
                p.container("c", ["/bin/sleep", "1000"])
                t2 = time.perf_counter()
                times[h]["total"].append((t2 - t0) * 1e3)
                times[h]["sandbox"].append((t1 - t0) * 1e3)
                times[h]["container"].append((t2 - t1) * 1e3)
                p.remove()
        node.remove_cgroups()

base = statistics.median(times["runc"]["total"]) if "runc" in times else None
print("%-8s %10s %8s %12s %14s %10s" % ("handler", "median_ms", "p90_ms", "sandbox_ms", "container_ms", "vs_runc"))
for h in handlers:
    t = times[h]
    m = statistics.median(t["total"])
    print("%-8s %10.1f %8.1f %12.1f %14.1f %10s" % (
        h, m, p90(t["total"]), statistics.median(t["sandbox"]), statistics.median(t["container"]),
        "%.2fx" % (m / base) if base else "-"))
for h, why in refused.items():
    print("%-8s refused here: %s" % (h, why))
print("(%d pods per handler: %d rounds of %d; pod start = RunPodSandbox + CreateContainer + StartContainer)"
      % (pods * rounds, rounds, pods))
