"""The Python face: caisson.run(argv, **settings) -> the report as a dict.

Run by ctest (python.module) with PYTHONPATH at the build's python/ directory.
"""
import os
import tempfile
import threading
import unittest

import caisson


class Run(unittest.TestCase):
    def test_exit_code_and_report(self):
        r = caisson.run(["/bin/sh", "-c", "exit 3"])
        self.assertTrue(r["exited"])
        self.assertEqual(r["exit_code"], 3)
        self.assertIn("protections", r)

    def test_output_input_and_settings(self):
        r = caisson.run(["/bin/sh", "-c", "cat; echo; hostname; id -u; echo oops >&2"],
                        input=b"from python", capture_output=True, hostname="py-sandbox")
        self.assertEqual(r["exit_code"], 0, r["stderr"])
        self.assertEqual(r["stdout"], b"from python\npy-sandbox\n0\n")
        self.assertEqual(r["stderr"], b"oops\n")

    def test_lists_pairs_and_switches(self):
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o755)  # the sandbox's ids are not the caller's
            with open(os.path.join(d, "f"), "w") as f:
                f.write("bound")
            r = caisson.run(["/bin/sh", "-c", "cat /tmp/data/f; touch /tmp/data/g"], capture_output=True,
                            ro_bind=[(d, "/tmp/data")], setenv=["A=1", "B=2"], monitor=True)
            self.assertEqual(r["stdout"], b"bound")
            self.assertNotEqual(r["exit_code"], 0, "the bind is read-only")
            self.assertIn("refusals", r)

    def test_the_callers_threads_never_hang_the_sandboxs_start(self):
        # The sandbox's child is a raw clone of a process with threads (Python's, these):
        # the C library still lists them there, and its setresuid would wait for them
        # forever. Threads that come and go make the window wide.
        stop = threading.Event()

        def churn():
            while not stop.is_set():
                t = threading.Thread(target=lambda: None)
                t.start()
                t.join()
        workers = [threading.Thread(target=churn) for _ in range(2)]
        for w in workers:
            w.start()
        try:
            for _ in range(30):
                self.assertEqual(caisson.run(["/bin/true"], capture_output=True, input=b"x")["exit_code"], 0)
        finally:
            stop.set()
            for w in workers:
                w.join()

    def test_signals_stay_pythons_off_the_main_thread(self):
        # From another thread caisson.run forwards nothing: the process's SIGUSR1 reaches
        # Python's handler, never the program (whose default action would end it).
        import signal
        got = threading.Event()
        old = signal.signal(signal.SIGUSR1, lambda *_: got.set())
        result = {}
        t = threading.Thread(target=lambda: result.update(r=caisson.run(["/bin/sh", "-c", "sleep 2"])))
        try:
            t.start()
            for _ in range(20):
                got.clear()
                os.kill(os.getpid(), signal.SIGUSR1)
                self.assertTrue(got.wait(5), "Python's handler never ran")
            t.join()
            self.assertTrue(result["r"]["exited"], result["r"])
            self.assertEqual(result["r"]["exit_code"], 0)
        finally:
            t.join()
            signal.signal(signal.SIGUSR1, old)

    def test_forward_signals_is_a_keyword(self):
        self.assertEqual(caisson.run(["/bin/true"], forward_signals=False)["exit_code"], 0)

    def test_egress_by_name_runs_its_own_proxy(self):
        # The proxy reads what the sandbox sends: it is caisson-egress (CAISSON_EGRESS_HELPER
        # here), exec'd, not a fork of this interpreter, whose memory it would otherwise hold.
        # The sandbox says it runs through one FIFO and waits on another while this looks.
        secret = "py-secret-" + "7c41e9"  # built at run time: in this heap, not only in the code
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o755)
            for f in ("ready", "go"):
                os.mkfifo(os.path.join(d, f))
                os.chmod(os.path.join(d, f), 0o666)  # the sandbox's ids are not the caller's
            # Both ends held here (O_RDWR never waits): the sandbox's opens do not wait for
            # this process, and a run that ends without a word still wakes the reader below.
            ready = os.open(os.path.join(d, "ready"), os.O_RDWR)
            go = os.open(os.path.join(d, "go"), os.O_RDWR)
            result = {}

            def run():
                try:
                    result.update(caisson.run(
                        ["/bin/sh", "-c", "echo up > /tmp/sync/ready; read x < /tmp/sync/go"],
                        allow_host=["example.com"], ro_bind=[(d, "/tmp/sync")], setenv=["S=" + secret]))
                finally:
                    os.write(ready, b"end\n")
            t = threading.Thread(target=run)
            t.start()
            try:
                self.assertEqual(os.read(ready, 3), b"up\n", "the sandbox did not start")
                proxies = []
                for pid in filter(str.isdigit, os.listdir("/proc")):
                    try:
                        with open("/proc/%s/stat" % pid) as st:
                            ppid = int(st.read().rsplit(")", 1)[1].split()[1])
                        if ppid == os.getpid() and os.readlink("/proc/%s/exe" % pid).endswith("/caisson-egress"):
                            proxies.append(pid)
                    except OSError:
                        continue
                self.assertEqual(len(proxies), 1, "one caisson-egress, a child of this process")
                with open("/proc/%s/environ" % proxies[0], "rb") as env:
                    self.assertEqual(env.read(), b"")
                with open("/proc/%s/cmdline" % proxies[0], "rb") as cmd:
                    self.assertEqual(cmd.read(), b"caisson-egress\0")
            finally:
                os.write(go, b"x\n")
                t.join()
                os.close(ready)
                os.close(go)
        self.assertEqual(result["exit_code"], 0)
        self.assertIn("seccomp egress-proxy", " ".join(result["egress_names"]["proxy_confinement"]))

    def test_the_filter_holds(self):
        r = caisson.run(["/bin/sh", "-c", "unshare -U true"], capture_output=True)
        self.assertNotEqual(r["exit_code"], 0)

    def test_bad_settings_raise(self):
        with self.assertRaises(caisson.Error):
            caisson.run(["/bin/true"], no_such_setting=1)
        with self.assertRaises(caisson.Error):
            caisson.run(["/bin/true"], allow_host=["10.0.0.1"])
        with self.assertRaises(caisson.Error):
            caisson.run([])


if __name__ == "__main__":
    unittest.main(verbosity=2)
