// `caisson doctor` and `--no-namespaces`: every mechanism gets a line, the lines follow the
// host when it changes (a device mode, a filter forbidding user namespaces), and where
// namespaces are forbidden the sandbox still runs with what the kernel allows.
#include "harness.hpp"
#include "host_settings.hpp"

#include <gtest/gtest.h>

#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <sstream>

namespace caisson::test {
namespace {

using nlohmann::json;

json check(const json& report, const std::string& name) {
    for (const auto& c : report["checks"])
        if (c["name"] == name) return c;
    return json();
}

TEST(Doctor, EveryMechanismHasALineAndTheDefaultRunDecidesTheExitStatus) {
    RunResult r = run_caisson({"doctor", "--json"});
    json j = json::parse(r.out);
    EXPECT_EQ(r.status, j["default_run_works"] == true ? 0 : 1) << r.out;
    for (const char* name : {"user namespaces", "user namespaces (ordinary users)", "mount namespace", "pid namespace",
                             "network namespace", "uts namespace", "ipc namespace", "cgroup namespace", "time namespace",
                             "subordinate ids", "cgroups", "cgroup delegation", "seccomp", "Landlock", "BPF LSM",
                             "cgroup BPF (egress rules)", "overlay in a user namespace", "pasta (--net user)",
                             "veth and nftables (--net veth)", "qemu and its guest kernel", "caisson run --vm", "OCI clients"}) {
        json c = check(j, name);
        ASSERT_FALSE(c.is_null()) << name << " is missing: " << r.out;
        EXPECT_TRUE(c["status"] == "works" || c["status"] == "fails" || c["status"] == "n/a") << c;
        if (c["status"] == "fails") {
            EXPECT_FALSE(c["detail"].get<std::string>().empty()) << c;
        }
    }
    // The Landlock line says what the kernel says.
    long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
    if (abi > 0) EXPECT_EQ(check(j, "Landlock")["detail"], "ABI " + std::to_string(abi));
    else EXPECT_EQ(check(j, "Landlock")["status"], "fails");
    // The text form: one line per check, each beginning with its verdict.
    RunResult text = run_caisson({"doctor"});
    EXPECT_EQ(text.status, r.status);
    size_t lines = 0;
    std::istringstream in(text.out);
    for (std::string line; std::getline(in, line) && !line.empty(); ++lines)
        EXPECT_TRUE(line.rfind("works ", 0) == 0 || line.rfind("fails ", 0) == 0 || line.rfind("n/a ", 0) == 0) << line;
    EXPECT_EQ(lines, j["checks"].size());
}

TEST(Doctor, ALineFollowsTheHost) {
    RunOptions as_user;
    as_user.as_uid = kUnprivilegedUid;
    {
        TunMode closed(0600);
        if (!closed.problem().empty()) GTEST_SKIP() << closed.problem();
        json c = check(json::parse(run_caisson({"doctor", "--json"}, as_user).out), "pasta (--net user)");
        EXPECT_EQ(c["status"], "fails") << c;
        EXPECT_NE(c["detail"].get<std::string>().find("mode 0600"), std::string::npos) << c;
        EXPECT_NE(c["fix"].get<std::string>().find("chmod 0666 /dev/net/tun"), std::string::npos) << c;
    }
    TunMode open(0666);
    json c = check(json::parse(run_caisson({"doctor", "--json"}, as_user).out), "pasta (--net user)");
    EXPECT_EQ(c["status"], "works") << c;
}

// A host that forbids user namespaces (a seccomp filter like a container runtime's).
RunOptions under_container_filter() {
    RunOptions o;
    o.wrapper = {CAISSON_DENY_USERNS};
    return o;
}

TEST(Doctor, WhereUserNamespacesAreForbiddenItSaysWhyAndWhatIsBest) {
    RunResult r = run_caisson({"doctor", "--json"}, under_container_filter());
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    json j = json::parse(r.out);
    json userns = check(j, "user namespaces");
    EXPECT_EQ(userns["status"], "fails") << userns;
    EXPECT_NE(userns["detail"].get<std::string>().find("seccomp filter"), std::string::npos) << userns;
    EXPECT_EQ(j["default_run_works"], false);
    EXPECT_NE(j["best_available"].get<std::string>().find("--no-namespaces"), std::string::npos) << j;
}

TEST(NoNamespaces, TheDefaultIsRefusedInOneLineThatSaysWhy) {
    RunResult r = run_caisson({"run", "--", "/bin/true"}, under_container_filter());
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("seccomp filter"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--no-namespaces"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(NoNamespaces, WhatTheKernelStillAllowsHoldsTheProgram) {
    TempDir dir;
    std::string report = dir.path() + "/r.json";
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(7120);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    // A host service's Unix socket (what D-Bus, systemd, LXD or Docker listen on), reachable
    // by path from anywhere Landlock lets the program read.
    const std::string service = dir.path() + "/service.sock";
    int unix_listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un u{};
    u.sun_family = AF_UNIX;
    std::snprintf(u.sun_path, sizeof(u.sun_path), "%s", service.c_str());
    ASSERT_EQ(::bind(unix_listener, reinterpret_cast<sockaddr*>(&u), sizeof(u)), 0);
    ASSERT_EQ(::listen(unix_listener, 1), 0);
    ASSERT_EQ(::chmod(service.c_str(), 0777), 0);
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    RunResult r = run_caisson({"run", "--no-namespaces", "--report", report, "--", probe_path(), "--write", "/etc/caisson-x",
                               "--write", "/tmp/caisson-nons-" + std::to_string(::getpid()), "--connect", "7120",
                               "--dial", "unix:" + service, "--dial", "udp:127.0.0.1:7121", "--dial", "mptcp:127.0.0.1:7120"},
                              under_container_filter());
    ::close(listener);
    ::close(unix_listener);
    ::unlink(("/tmp/caisson-nons-" + std::to_string(::getpid())).c_str());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["ns"]["pid"], host_ns("pid")) << "no namespace was made";
    EXPECT_EQ(r.probe["status"]["NoNewPrivs"], "1");
    EXPECT_EQ(r.probe["status"]["Seccomp"], "2");
    EXPECT_EQ(r.probe["status"]["CapEff"], "0000000000000000");
    EXPECT_EQ(r.probe["uid"], kNobodyUid) << "root's sandbox runs as nobody";
    EXPECT_EQ(r.probe["writes"]["/etc/caisson-x"], "EACCES") << "Landlock: nothing outside /tmp is writable";
    EXPECT_EQ(r.probe["writes"]["/tmp/caisson-nons-" + std::to_string(::getpid())], "ok");
    EXPECT_EQ(r.probe["connects"]["7120"], "EACCES") << "Landlock: no TCP connect";
    EXPECT_EQ(r.probe["dials"]["unix:" + service], "EACCES") << "no Unix socket is made, so no host service is reached";
    EXPECT_EQ(r.probe["dials"]["udp:127.0.0.1:7121"], "EACCES") << "no datagram socket either: Landlock holds TCP only";
    EXPECT_EQ(r.probe["dials"]["mptcp:127.0.0.1:7120"], "EACCES") << "no MPTCP stream, which Landlock's TCP rules do not see";
    json j = read_json(report);
    EXPECT_NE(j["not_enforced"].dump().find("--no-namespaces"), std::string::npos) << j.dump();
}

}  // namespace
}  // namespace caisson::test
