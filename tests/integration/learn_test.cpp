// caisson learn: a profile from one run, checked by a second run under it; argument values
// become conditions; --merge folds runs together; a program that differs between runs is
// reported as not verified; other programs are refused under the profile.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

namespace caisson::test {
namespace {

TEST(Learn, AVerifiedProfileUnderWhichTheProgramPassesAndAnotherDoesNot) {
    TempDir dir;
    const std::string policy = dir.path() + "/shell.toml";
    RunResult learned = run_caisson({"learn", "--output", policy, "--", "/bin/busybox", "sh", "-c", "echo hello; cat /etc/hostname >/dev/null"});
    ASSERT_EQ(learned.status, 0) << learned.err;
    EXPECT_EQ(learned.out, "hello\n");  // the first run's output, once
    EXPECT_NE(learned.err.find("caisson learn: verified"), std::string::npos) << learned.err;
    std::string text = read_file(policy);
    EXPECT_NE(text.find("\"openat\""), std::string::npos) << text;
    EXPECT_EQ(text.find("\"socket\""), std::string::npos) << text;

    RunResult again = run_caisson({"run", "--seccomp", policy, "--", "/bin/busybox", "sh", "-c", "echo hello"});
    EXPECT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(again.out, "hello\n");
    // Another program needs what the profile never saw: a socket.
    RunResult other = run_caisson({"run", "--seccomp", policy, "--", "/bin/busybox", "sh", "-c",
                                   "exec /bin/busybox nc 127.0.0.1 9 </dev/null"});
    EXPECT_EQ(other.status, 1);
    EXPECT_NE(other.err.find("nc: socket: Operation not permitted"), std::string::npos) << other.err;
}

// Learning lets calls through unchecked, but never the kernel's attack surface: a program
// under --learn gets EPERM from io_uring_setup (425; EFAULT for these arguments were it
// reached), as under the default policy, and the learned policy does not allow it.
TEST(Learn, TheKernelsAttackSurfaceIsRefusedWhileLearning) {
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
    TempDir dir;
    const std::string policy = dir.path() + "/uring.toml";
    RunResult learned = run_caisson({"run", "--learn", policy, "--", "/usr/bin/python3", "-c",
                                     "import ctypes; l = ctypes.CDLL(None, use_errno=True); l.syscall(425, 1, 0); "
                                     "print(ctypes.get_errno())"});
    ASSERT_EQ(learned.status, 0) << learned.err;
    EXPECT_EQ(learned.out, "1\n") << "io_uring_setup was reached while learning";
    std::string text = read_file(policy);
    EXPECT_EQ(text.find("io_uring"), std::string::npos) << text;
}

// No new namespace either (a user namespace leads to the kernel's code for unprivileged
// ones): refused while learning, and refused under the learned policy whatever else of
// clone and unshare the run used, as caisson's default policy refuses it.
TEST(Learn, NoLearnedPolicyMakesANamespace) {
    TempDir dir;
    const std::string policy = dir.path() + "/ns.toml";
    const std::string unshare_user = "272,0x10000000", unshare_files = "272,0x400";
    RunResult learned = run_probe({"--learn", policy}, {"--call", unshare_files, "--call", unshare_user});
    ASSERT_EQ(learned.status, 0) << learned.err;
    EXPECT_EQ(learned.probe["calls"][unshare_files], "ok");
    EXPECT_EQ(learned.probe["calls"][unshare_user], "EPERM");
    RunResult under = run_probe({"--seccomp", policy}, {"--call", unshare_files, "--call", unshare_user, "--call", "435,0,0"});
    ASSERT_EQ(under.status, 0) << under.err << read_file(policy);
    EXPECT_EQ(under.probe["calls"][unshare_files], "ok");
    EXPECT_EQ(under.probe["calls"][unshare_user], "EPERM");
    EXPECT_EQ(under.probe["calls"]["435,0,0"], "ENOSYS");
}

TEST(Learn, PythonIsLearnedAndVerified) {
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
    TempDir dir;
    const std::string policy = dir.path() + "/py.toml";
    RunResult learned = run_caisson({"learn", "--output", policy, "--", "/usr/bin/python3", "-c", "print(1)"});
    ASSERT_EQ(learned.status, 0) << learned.err;
    EXPECT_EQ(learned.out, "1\n");
    EXPECT_NE(learned.err.find("verified"), std::string::npos) << learned.err;
    // A script that opens a socket is refused under it.
    RunResult other = run_caisson({"run", "--seccomp", policy, "--", "/usr/bin/python3", "-c",
                                   "import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)"});
    EXPECT_NE(other.status, 0);
    EXPECT_NE(other.err.find("PermissionError"), std::string::npos) << other.err;
}

TEST(Learn, ArgumentValuesBecomeConditionsAndRunsMerge) {
    TempDir dir;
    const std::string v4 = dir.path() + "/v4.toml", both = dir.path() + "/both.toml";
    // The probe's report carries clocks, so its output differs run to run: not verified.
    RunResult learned = run_caisson({"learn", "--no-verify", "--output", v4, "--ro-bind", probe_path(), kProbeInside, "--",
                                     kProbeInside, "--dial", "udp:127.0.0.1:9"});
    ASSERT_EQ(learned.status, 0) << learned.err;
    // AF_INET for the dial, AF_NETLINK for the probe's list of interfaces.
    EXPECT_NE(read_file(v4).find("syscall = \"socket\"\nif = \"arg0 in {0x2, 0x10}\""), std::string::npos) << read_file(v4);

    RunResult v4_ok = run_probe({"--seccomp", v4}, {"--dial", "udp:127.0.0.1:9", "--dial", "udp:[::1]:9"});
    ASSERT_EQ(v4_ok.status, 0) << v4_ok.err;
    EXPECT_EQ(v4_ok.probe["dials"]["udp:127.0.0.1:9"], "ok");
    EXPECT_EQ(v4_ok.probe["dials"]["udp:[::1]:9"], "EPERM");  // AF_INET6 was never seen

    RunResult merged = run_caisson({"learn", "--no-verify", "--output", both, "--merge", v4, "--ro-bind", probe_path(),
                                    kProbeInside, "--", kProbeInside, "--dial", "udp:[::1]:9"});
    ASSERT_EQ(merged.status, 0) << merged.err;
    EXPECT_NE(read_file(both).find("if = \"arg0 in {0x2, 0xa, 0x10}\""), std::string::npos) << read_file(both);
}

TEST(Learn, AProgramThatDiffersBetweenRunsIsNotVerified) {
    TempDir dir;
    RunResult r = run_caisson({"learn", "--output", dir.path() + "/p.toml", "--", "/bin/busybox", "cat",
                               "/proc/sys/kernel/random/uuid"});
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("NOT verified"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("different"), std::string::npos) << r.err;
}

TEST(Learn, BadMergeFilesAreRefusedBeforeRunning) {
    TempDir dir;
    RunResult missing = run_caisson({"learn", "--merge", dir.path() + "/none.toml", "--", "/bin/busybox", "echo", "ran"});
    EXPECT_EQ(missing.status, 125);
    EXPECT_EQ(missing.out, "");
    EXPECT_NE(missing.err.find("--merge: open"), std::string::npos) << missing.err;
}

TEST(Learn, ThePathsOpenedBecomeOpenRules) {
    TempDir dir;
    const std::string policy = dir.path() + "/cat.toml";
    RunResult learned = run_caisson({"learn", "--output", policy, "--", "/bin/busybox", "sh", "-c",
                                     "cat /etc/hostname >/dev/null; echo saved >/tmp/out; cat /tmp/out"});
    ASSERT_EQ(learned.status, 0) << learned.err;
    EXPECT_NE(learned.err.find("caisson learn: verified"), std::string::npos) << learned.err;
    std::string text = read_file(policy);
    EXPECT_NE(text.find("[open]\ndefault = \"errno(EACCES)\""), std::string::npos) << text;
    EXPECT_NE(text.find("  \"/etc/hostname\",\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  \"/tmp/**\",\n"), std::string::npos) << text;  // a file created: its directory
    // Under it: the same files, and another name in the directory written to, but not a
    // file the run never opened.
    RunResult same = run_caisson({"run", "--seccomp", policy, "--", "/bin/busybox", "sh", "-c",
                                  "cat /etc/hostname >/dev/null && echo other >/tmp/other && cat /tmp/other"});
    EXPECT_EQ(same.status, 0) << same.err;
    EXPECT_EQ(same.out, "other\n");
    RunResult shadow = run_caisson({"run", "--seccomp", policy, "--", "/bin/busybox", "sh", "-c", "cat /etc/shadow"});
    EXPECT_EQ(shadow.status, 1);
    EXPECT_NE(shadow.err.find("/etc/shadow': Permission denied"), std::string::npos) << shadow.err;
}

TEST(Learn, ATcpClientAndServerGetTheirPortsAndNoOthers) {
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
    TempDir dir;
    const std::string policy = dir.path() + "/tcp.toml", profile = dir.path() + "/tcp-profile.toml";
    // Server and client in one process, on the sandbox's own loopback.
    const std::string script =
        "import socket\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 47123)); s.listen()\n"
        "c = socket.create_connection(('127.0.0.1', 47123)); a, _ = s.accept()\n"
        "c.sendall(b'ping'); print(a.recv(4).decode())\n";
    RunResult learned = run_caisson({"learn", "--output", policy, "--profile-output", profile, "--", "/usr/bin/python3", "-c", script});
    ASSERT_EQ(learned.status, 0) << learned.err;
    EXPECT_EQ(learned.out, "ping\n");
    EXPECT_NE(learned.err.find("caisson learn: verified"), std::string::npos) << learned.err;
    std::string text = read_file(profile);
    EXPECT_NE(text.find("landlock-connect = [47123]\n"), std::string::npos) << text;
    EXPECT_NE(text.find("landlock-bind = [47123]\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# landlock-connect: 127.0.0.1:47123\n"), std::string::npos) << text;

    RunResult again = run_caisson({"run", "--profile", profile, "--", "/usr/bin/python3", "-c", script});
    EXPECT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(again.out, "ping\n");
    // Elsewhere: refused (Landlock's TCP rules).
    std::string elsewhere = script;
    elsewhere.replace(elsewhere.find("create_connection(('127.0.0.1', 47123)"), 38, "create_connection(('127.0.0.1', 47124)");
    RunResult other = run_caisson({"run", "--profile", profile, "--", "/usr/bin/python3", "-c", elsewhere});
    EXPECT_NE(other.status, 0);
    EXPECT_NE(other.err.find("PermissionError"), std::string::npos) << other.err;
}

// As root the kernel counts the calls (BPF tracepoints on the sandbox's cgroup); an ordinary
// user's learn mode makes every call a notification. Both find the same calls.
TEST(Learn, TheKernelsCountAndTheNotificationsAgree) {
    RunOptions nobody;
    nobody.as_uid = 65534;
    CAISSON_REQUIRE("user namespaces", nobody);
    TempDir dir(65534);
    const std::string as_root = dir.path() + "/root.toml", as_user = dir.path() + "/user.toml";
    const std::vector<std::string> program{"--", "/bin/busybox", "sh", "-c", "echo hi; cat /etc/hostname; ls / >/dev/null"};
    auto learn = [&](const std::string& out, std::optional<uid_t> uid) {
        std::vector<std::string> args{"learn", "--no-verify", "--output", out};
        args.insert(args.end(), program.begin(), program.end());
        RunOptions opts;
        opts.as_uid = uid;
        RunResult r = run_caisson(args, opts);
        EXPECT_EQ(r.status, 0) << r.err;
        std::string text = read_file(out);
        // The calls and their argument values: everything before the paths.
        return text.substr(text.find("default = "), text.find("[open]") - text.find("default = "));
    };
    std::string root_calls = learn(as_root, std::nullopt), user_calls = learn(as_user, 65534);
    EXPECT_NE(root_calls.find("\"getdents64\""), std::string::npos) << root_calls;
    EXPECT_EQ(root_calls, user_calls);
}

}  // namespace
}  // namespace caisson::test
