// --net user: pasta's user-mode stack. The sandbox reaches a test host through the host's
// own sockets (as root and as an ordinary user), published ports answer from the host's
// loopback and from outside, the host's loopback stays out of reach, and pasta goes with a
// SIGKILLed supervisor. Traffic stays on this machine.
#include "harness.hpp"
#include "host_settings.hpp"
#include "loopback.hpp"
#include "netns.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>
#include <sstream>

namespace caisson::test {
namespace {


// pasta's process among the children of `parent`, -1 when there is none.
pid_t pasta_child(pid_t parent) {
    DIR* d = ::opendir("/proc");
    pid_t found = -1;
    while (dirent* e = d ? ::readdir(d) : nullptr) {
        pid_t pid = std::atoi(e->d_name);
        if (pid <= 0) continue;
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        std::getline(stat, line);
        auto close = line.rfind(')');
        if (close == std::string::npos || line.find("(pas") == std::string::npos) continue;
        char state;
        pid_t ppid = 0;
        std::istringstream(line.substr(close + 2)) >> state >> ppid;
        if (ppid == parent) found = pid;
    }
    if (d) ::closedir(d);
    return found;
}

// The sandbox's TCP send buffer is held to 256 KiB (mech/pasta.hpp says why: pasta of
// Debian 12 drops what overflows its socket, and a transfer falls to 1% of bare). A new
// network namespace starts from the host's values: each is expected held to the cap, in order.
constexpr const char* kWmem = "/proc/sys/net/ipv4/tcp_wmem";
bool send_buffer_capped(const nlohmann::json& line) {
    long host[3] = {0, 0, 0}, got[3] = {0, 0, 0};
    std::ifstream in(kWmem);
    std::string host_line;
    if (!std::getline(in, host_line) || std::sscanf(host_line.c_str(), "%ld %ld %ld", &host[0], &host[1], &host[2]) != 3)
        return false;
    if (!line.is_string() || std::sscanf(line.get<std::string>().c_str(), "%ld %ld %ld", &got[0], &got[1], &got[2]) != 3)
        return false;
    const long max = std::min(host[2], 262144L), def = std::min(host[1], max), min = std::min(host[0], def);
    return got[0] == min && got[1] == def && got[2] == max;
}

constexpr const char* kTunFlags = "/sys/class/net/eth0/tun_flags";
bool tun_flags_persistent(const nlohmann::json& text) {
    return text.is_string() && (std::strtoul(text.get<std::string>().c_str(), nullptr, 16) & IFF_PERSIST) != 0;
}

TEST(UserNet, ReachesATestHostThroughTheHostsSockets) {
    TestHost th("cth4", "10.232.4.1", "10.232.4.2");
    ASSERT_TRUE(th.ok());
    int listener = th.listen_on("10.232.4.2", 7004);
    ASSERT_GE(listener, 0);
    RunResult r = run_probe({"--net", "user"}, {"--dial", "tcp:10.232.4.2:7004", "--cat", kWmem, "--cat", kTunFlags});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["dials"]["tcp:10.232.4.2:7004"], "ok");
    EXPECT_TRUE(send_buffer_capped(r.probe["cat"][kWmem])) << r.probe["cat"].dump();
    EXPECT_TRUE(r.probe["interfaces"].contains("eth0")) << r.probe["interfaces"].dump();
    // Up and running from the program's start: the device pasta attached to was made ahead,
    // and its carrier changes are applied before the program (mech/tap.hpp).
    EXPECT_EQ(r.probe["interfaces"]["eth0"]["up"], true) << r.probe["interfaces"].dump();
    EXPECT_EQ(r.probe["interfaces"]["eth0"]["running"], true) << r.probe["interfaces"].dump();
    // Persistent, so that pasta's end does not wait for the device's removal: the namespace
    // takes it down in the background.
    EXPECT_TRUE(tun_flags_persistent(r.probe["cat"][kTunFlags])) << r.probe["cat"].dump();
    // pasta connected from the host's own stack, with the host's address on that link.
    EXPECT_EQ(accept_peer(listener, 5000), "10.232.4.1");
    ::close(listener);
}

// This pasta binds, on the host, the port a datagram of the sandbox's came from (a NAT that
// keeps ports): the program chose host ports, took them from the host's services, and could
// be reached there. Root's pasta binds in a cgroup whose hooks make such a port ephemeral
// (filter/bind_program.hpp); the flow still works, from another port.
TEST(UserNet, TheSandboxDoesNotChooseTheHostsPorts) {
    TestHost th("cth6", "10.232.6.1", "10.232.6.2");
    ASSERT_TRUE(th.ok());
    int peer = th.udp_on("10.232.6.2", 7006);
    ASSERT_GE(peer, 0);
    // The peer answers whatever comes, and says from which port it came.
    int seen_port = -1;
    std::thread echo([&] {
        pollfd p{peer, POLLIN, 0};
        if (::poll(&p, 1, 20000) != 1) return;
        char buf[64];
        sockaddr_in from{};
        socklen_t len = sizeof(from);
        ssize_t n = ::recvfrom(peer, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n <= 0) return;
        seen_port = ntohs(from.sin_port);
        (void)::sendto(peer, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
    });
    // A service of the host on its own address on that link: pasta tests whether an address
    // of the host's has a listener by binding that address and port, which the hooks leave
    // as asked (rewritten, every connect there hung).
    int service = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(7106);
    ::inet_pton(AF_INET, "10.232.6.1", &at.sin_addr);
    ASSERT_EQ(::bind(service, reinterpret_cast<sockaddr*>(&at), sizeof(at)), 0);
    ASSERT_EQ(::listen(service, 4), 0);
    TempDir dir;
    RunResult r = run_probe({"--net", "user", "--report", dir.path() + "/report.json"},
                            {"--udp-from", "40123,10.232.6.2,7006", "--dial", "tcp:10.232.6.1:7106"});
    echo.join();
    ::close(peer);
    ::close(service);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["udp_from"]["40123,10.232.6.2,7006"], "replied");
    EXPECT_EQ(r.probe["dials"]["tcp:10.232.6.1:7106"], "ok") << "a service on the host's own address";
    nlohmann::json report = read_json(dir.path() + "/report.json");
    bool ephemeral = false;
    for (const auto& prot : report["protections"])
        ephemeral |= prot.get<std::string>().find("host ports it was not given made ephemeral") != std::string::npos;
    // Where root has no cgroup v2 to attach hooks to, the ports stay as asked (docs/run.md).
    if (host_lacks("cgroup BPF (egress rules)", {}).empty()) {
        EXPECT_TRUE(ephemeral) << report["protections"].dump();
        EXPECT_NE(seen_port, 40123) << "pasta bound the port the sandbox chose";
        EXPECT_GT(seen_port, 0);
    }
}

TEST(UserNet, WorksForAnOrdinaryUser) {
    TunMode usable(0666);
    if (!usable.problem().empty()) GTEST_SKIP() << usable.problem();
    TestHost th("cth6", "10.232.6.1", "10.232.6.2");
    ASSERT_TRUE(th.ok());
    int listener = th.listen_on("10.232.6.2", 7006);
    ASSERT_GE(listener, 0);
    RunOptions as_user;
    as_user.as_uid = kUnprivilegedUid;
    CAISSON_REQUIRE("user namespaces", as_user);
    RunResult r = run_probe({"--net", "user"}, {"--dial", "tcp:10.232.6.2:7006", "--cat", kWmem}, as_user);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["dials"]["tcp:10.232.6.2:7006"], "ok");
    EXPECT_TRUE(send_buffer_capped(r.probe["cat"][kWmem])) << r.probe["cat"].dump();
    EXPECT_EQ(accept_peer(listener, 5000), "10.232.6.1");
    ::close(listener);
}

// Where the device is root's alone, an ordinary user hears why in one line, with the fix,
// before anything starts; root's pasta still opens it.
TEST(UserNet, AnUnusableTunDeviceIsNamedWithItsModeAndTheFix) {
    TunMode roots_only(0600);
    if (!roots_only.problem().empty()) GTEST_SKIP() << roots_only.problem();
    RunOptions as_user;
    as_user.as_uid = kUnprivilegedUid;
    RunResult r = run_probe({"--net", "user"}, {}, as_user);
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("/dev/net/tun, which is mode 0600 owned by uid 0 here, so uid 4242 cannot open it"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("chmod 0666 /dev/net/tun"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    RunResult root = run_probe({"--net", "user"});
    EXPECT_EQ(root.status, 0) << root.err;
}

TEST(UserNet, PublishedPortsAnswerFromLoopbackAndOutside) {
    TestHost th("cth5", "10.232.5.1", "10.232.5.2");
    ASSERT_TRUE(th.ok());
    PublishedReplies replies;
    RunOptions opts;
    opts.on_ready = ask_published(th, 7105, replies);
    RunResult r = run_probe({"--net", "user", "--publish", "7105:8080"}, {"--serve", "8080", "2"}, opts);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(replies.from_loopback.rfind("probe ", 0), 0u) << replies.from_loopback;
    EXPECT_EQ(replies.from_outside, "probe 10.232.5.2");  // the real peer
    EXPECT_EQ(r.probe["served"].size(), 2u);
}

// The tap is made by a copy of caisson that signals nothing when it ends: a caller that
// ignores SIGCHLD (here across exec) would otherwise have it reaped unseen, and the wait fail.
TEST(UserNet, ACallerThatIgnoresSigchldGetsItsNetwork) {
    RunOptions o;
    o.wrapper = {"/usr/bin/python3", "-c",
                 "import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])"};
    RunResult r = run_probe({"--net", "user"}, {}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["interfaces"]["eth0"]["running"], true) << r.probe["interfaces"].dump();
}

TEST(UserNet, TheHostsLoopbackIsOutOfReach) {
    int host_only = listen_loopback(7107);
    ASSERT_GE(host_only, 0);
    ASSERT_GE(connect_loopback(7107), 0);  // reachable from here
    RunResult r = run_probe({"--net", "user"}, {"--dial", "tcp:127.0.0.1:7107"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["dials"]["tcp:127.0.0.1:7107"], "ECONNREFUSED");  // the sandbox's own loopback
    ::close(host_only);
}

// pasta connects to whatever a frame on the tap names, the host's loopback included: a
// program that can write frames of its own (an attack run's packet socket reached the host's
// 127.0.0.1 and ::1 through it) or reroute or rewrite them is not run under --net user.
TEST(UserNet, CapabilitiesThatWriteOrRerouteFramesAreRefused) {
    for (const char* cap : {"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"})
        expect_refused({"--net", "user", "--cap-add", cap}, std::string("--net user: the sandbox would keep ") + cap);
}

TEST(UserNet, PastaGoesWithAKilledSupervisorAndAMissingPastaIsAClearError) {
    int pasta_pidfd = -1;
    KilledSupervisor killed;
    RunOptions opts;
    opts.on_ready = [&](pid_t caisson) {
        pid_t pasta = pasta_child(caisson);
        if (pasta > 0) pasta_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pasta, 0));
        killed.kill(caisson);
    };
    RunResult r = run_probe({"--net", "user"}, {"--wait-signal"}, opts);
    EXPECT_EQ(r.status, 128 + SIGKILL);
    ASSERT_GE(pasta_pidfd, 0) << "pasta was not a child of caisson";
    pollfd p{pasta_pidfd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 5000), 1) << "pasta outlived its supervisor";
    ::close(pasta_pidfd);
    killed.collect();

    RunOptions no_pasta;
    no_pasta.env = {"CAISSON_PASTA=/nonexistent/pasta"};
    expect_refused({"--net", "user"}, "--net user: pasta not found (Debian package passt", no_pasta);
}

}  // namespace
}  // namespace caisson::test
