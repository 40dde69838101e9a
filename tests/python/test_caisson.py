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

    def test_egress_by_name_runs_its_own_proxy(self):
        # The proxy is caisson-egress (CAISSON_EGRESS_HELPER here), exec'd: not a fork of
        # this interpreter, whose memory it would otherwise hold.
        r = caisson.run(["/bin/true"], allow_host=["example.com"])
        self.assertEqual(r["exit_code"], 0)
        self.assertIn("seccomp egress-proxy", " ".join(r["egress_names"]["proxy_confinement"]))

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
