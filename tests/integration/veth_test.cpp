// --net veth: an address from the bridge's subnet, a default route, NAT to a test host,
// published ports (from the host's loopback and from outside), and nothing left behind: not
// after the run, not after the supervisor is SIGKILLed and `caisson gc` runs, not after a
// refusal. The tests use a bridge and subnets of their own; traffic stays on this machine.
#include "harness.hpp"
#include "loopback.hpp"
#include "netns.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace caisson::test {
namespace {

constexpr const char* kBridge = "cstest0";
constexpr const char* kSubnet = "10.233.0.0/24";

std::vector<std::string> veth_args(std::vector<std::string> more = {}) {
    std::vector<std::string> a{"--net", "veth", "--veth-bridge", kBridge, "--veth-subnet", kSubnet};
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

std::string command_output(const std::string& cmd) {
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
        ::pclose(f);
    }
    return out;
}

// What veth networking can leave: the bridge, host ends of pairs in the test subnet
// (cs0ae900..), the NAT tables, the state directory.
std::string leftovers() {
    std::string left;
    if (::if_nametoindex(kBridge) != 0) left += std::string(" link ") + kBridge;
    std::string links = command_output("ip -o link show 2>/dev/null");
    if (links.find("cs0ae900") != std::string::npos) left += " host-side veth";
    std::string tables = command_output("nft list tables 2>/dev/null");
    if (tables.find("caisson_cstest0") != std::string::npos) left += " nftables: " + tables;
    if (::access((std::string("/run/caisson/net/") + kBridge).c_str(), F_OK) == 0) left += " state directory";
    return left;
}


TEST(Veth, AnAddressARouteAndNatToATestHost) {
    TestHost th("cth1", "10.232.1.1", "10.232.1.2");
    ASSERT_TRUE(th.ok());
    int listener = th.listen_on("10.232.1.2", 7001);
    ASSERT_GE(listener, 0);
    TempDir dir;
    RunResult r = run_probe(veth_args({"--report", dir.path() + "/report.json"}), {"--dial", "tcp:10.232.1.2:7001"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["interfaces"]["eth0"]["inet"], "10.233.0.2");
    EXPECT_EQ(r.probe["interfaces"]["eth0"]["up"], true);
    EXPECT_EQ(r.probe["dials"]["tcp:10.232.1.2:7001"], "ok");
    // The test host saw the host's own address on that link: the sandbox was masqueraded.
    EXPECT_EQ(accept_peer(listener, 5000), "10.232.1.1");
    ::close(listener);
    auto report = read_json(dir.path() + "/report.json");
    bool named = false;
    for (const auto& p : report["protections"]) named |= p == "net veth 10.233.0.2/24 via 10.233.0.1 (bridge cstest0)";
    EXPECT_TRUE(named) << report["protections"].dump();
    EXPECT_EQ(leftovers(), "");
}

TEST(Veth, PublishedPortsAnswerOnLoopbackAndFromOutside) {
    TestHost th("cth2", "10.232.2.1", "10.232.2.2");
    ASSERT_TRUE(th.ok());
    PublishedReplies replies;
    RunOptions opts;
    opts.on_ready = ask_published(th, 7102, replies);
    RunResult r = run_probe(veth_args({"--publish", "7102:8080"}), {"--serve", "8080", "2"}, opts);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(replies.from_loopback, "probe 10.233.0.1");  // masqueraded to the bridge's address
    EXPECT_EQ(replies.from_outside, "probe 10.232.2.2");   // DNAT only: the real peer
    EXPECT_EQ(r.probe["served"].size(), 2u);
    EXPECT_EQ(leftovers(), "");
}

TEST(Veth, BackToBackSandboxesShareTheBridgeWhileTheKernelDismantlesTheLastOnes) {
    // One sandbox holds the bridge; the next ones start as the one before ends, while the
    // kernel may still be dismantling that one's namespace and veth pair. Each takes the
    // first free address whose host link is gone (an address whose link the kernel still
    // holds is passed over rather than its link removed and waited for), so among four in a
    // row, none takes the holder's, and the addresses are the lowest ones: .3 to .6.
    RunOptions opts;
    std::vector<int> statuses;
    std::vector<std::string> addresses;
    opts.on_ready = [&](pid_t holder) {
        for (int i = 0; i < 4; ++i) {
            RunResult r = run_probe(veth_args(), {});
            statuses.push_back(r.status);
            addresses.push_back(r.probe.value("interfaces", nlohmann::json::object())["eth0"].value("inet", "") + " " + r.err);
        }
        ::kill(holder, SIGTERM);
    };
    RunResult held = run_probe(veth_args(), {"--wait-signal"}, opts);
    EXPECT_EQ(held.status, 0) << held.err;
    EXPECT_EQ(held.probe["interfaces"]["eth0"]["inet"], "10.233.0.2");
    EXPECT_EQ(statuses, std::vector<int>(4, 0));
    const std::vector<std::string> lowest{"10.233.0.3 ", "10.233.0.4 ", "10.233.0.5 ", "10.233.0.6 "};
    for (const auto& a : addresses) EXPECT_NE(std::find(lowest.begin(), lowest.end(), a), lowest.end()) << a;
    EXPECT_EQ(leftovers(), "");
}

// A veth pair on the host that caisson did not make, named like a sandbox's host link;
// removed with the test.
struct HostLinkOfAnother {
    std::string name;
    bool made;
    HostLinkOfAnother(std::string n, const std::string& peer)
        : name(std::move(n)), made(TestHost::sh("ip link add " + name + " type veth peer name " + peer)) {}
    ~HostLinkOfAnother() { TestHost::sh("ip link del " + name + " 2>/dev/null"); }
};

TEST(Veth, AnAddressWhoseHostLinkTheKernelStillHoldsIsPassedOver) {
    // A host link of .2's name: the next sandbox takes .3. A link of that name that is a port
    // of the bridge is one a sandbox that just ended leaves while the kernel dismantles its
    // namespace (removing it would wait for that); one that is not is another's, and is never
    // removed, even when no other address is free (below).
    HostLinkOfAnother stale("cs0ae90002", "cstestpeer");
    ASSERT_TRUE(stale.made);
    RunResult r = run_probe(veth_args(), {});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["interfaces"]["eth0"]["inet"], "10.233.0.3");
    EXPECT_NE(::if_nametoindex("cs0ae90002"), 0u);
}

TEST(Veth, ALinkOfAnotherNamedLikeTheOnlyAddressIsLeftAloneAndTheRunRefused) {
    // A /30 has one address for a sandbox (.2); a link of its host link's name that caisson
    // did not make (not a port of the bridge) holds it.
    HostLinkOfAnother foreign("cs0ae90902", "cstestpeer9");
    ASSERT_TRUE(foreign.made);
    expect_refused({"--net", "veth", "--veth-bridge", "cstest9", "--veth-subnet", "10.233.9.0/30"}, "every address is in use");
    EXPECT_NE(::if_nametoindex("cs0ae90902"), 0u);
    EXPECT_EQ(::if_nametoindex("cstest9"), 0u);
    EXPECT_NE(::access("/run/caisson/net/cstest9", F_OK), 0);
}

// A connection from the host to a probe serving at 10.233.0.2:8080.
bool connect_to_the_serving_sandbox() {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(8080);
    inet_pton(AF_INET, "10.233.0.2", &s.sin_addr);
    bool ok = ::connect(c, reinterpret_cast<sockaddr*>(&s), sizeof(s)) == 0;
    ::close(c);
    return ok;
}

TEST(Veth, NeitherTheHostNorOtherSandboxesAreReachable) {
    int host_service = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(7110);
    ASSERT_EQ(::bind(host_service, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);  // every address of the host
    ASSERT_EQ(::listen(host_service, 4), 0);
    RunResult other;
    RunOptions opts;
    opts.on_ready = [&](pid_t) {
        other = run_probe(veth_args(), {"--dial", "tcp:10.233.0.1:7110", "--dial", "tcp:10.233.0.2:8080"});
        EXPECT_TRUE(connect_to_the_serving_sandbox());  // the host itself may connect in
    };
    RunResult serving = run_probe(veth_args(), {"--serve", "8080", "1"}, opts);
    ::close(host_service);
    EXPECT_EQ(serving.status, 0) << serving.err;
    ASSERT_EQ(other.status, 0) << other.err;
    EXPECT_NE(other.probe["dials"]["tcp:10.233.0.1:7110"], "ok");  // the host's services, through the gateway
    EXPECT_NE(other.probe["dials"]["tcp:10.233.0.2:8080"], "ok");  // another sandbox on the bridge
    EXPECT_EQ(leftovers(), "");
}

// Runs `fn` in a child that has joined process `pid`'s network namespace; its result comes
// back through a pipe ("" if the child could not join).
std::string in_netns_of(pid_t pid, const std::function<std::string()>& fn) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return "pipe failed";
    pid_t c = ::fork();
    if (c == 0) {
        ::close(p[0]);
        int ns = ::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
        std::string r = ns >= 0 && ::setns(ns, CLONE_NEWNET) == 0 ? fn() : "";
        (void)!::write(p[1], r.data(), r.size());
        ::_exit(0);
    }
    ::close(p[1]);
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(p[0]);
    ::waitpid(c, nullptr, 0);
    return out;
}

std::string first_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

bool write_line(const std::string& path, const std::string& value) {
    std::ofstream f(path);
    f << value;
    f.flush();
    return f.good();
}

// The IPv6 link-local address of a link in this thread's network namespace, "" if none.
std::string link_local(const std::string& link) {
    std::string out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) < 0) return out;
    for (ifaddrs* i = list; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 && link == i->ifa_name) {
            const in6_addr& a = reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr;
            char text[INET6_ADDRSTRLEN] = {};
            if (IN6_IS_ADDR_LINKLOCAL(&a)) out = ::inet_ntop(AF_INET6, &a, text, sizeof(text));
        }
    ::freeifaddrs(list);
    return out;
}

// The bridge and the pairs carry IPv4 alone: IPv6 is disabled on every link caisson makes, and
// the bridge's filter drops IPv6 too. An attack run reached a host service listening on [::]
// at the bridge's link-local address, which the IPv4-only filter let through. Here IPv6 is
// then enabled again on the bridge, the host's end and the sandbox's eth0, as a host's
// `net.ipv6.conf.all.disable_ipv6=0` would, and the host's service stays out of reach.
TEST(Veth, TheHostIsOutOfReachOverIPv6Too) {
    if (::access("/proc/sys/net/ipv6", F_OK) != 0) GTEST_SKIP() << "this kernel has no IPv6";
    int host_service = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(host_service, 0);
    sockaddr_in6 any{};
    any.sin6_family = AF_INET6;
    any.sin6_port = htons(7111);
    ASSERT_EQ(::bind(host_service, reinterpret_cast<sockaddr*>(&any), sizeof(any)), 0);  // every address of the host
    ASSERT_EQ(::listen(host_service, 4), 0);
    const std::string conf = "/proc/sys/net/ipv6/conf/";
    const std::string host_end = "cs0ae90002";  // the pair of 10.233.0.2
    std::string bridge_disabled, end_disabled, eth0_disabled, bridge_address, dialled;
    RunOptions opts;
    opts.on_ready = [&](pid_t caisson) {
        pid_t init = 0;
        std::ifstream("/proc/" + std::to_string(caisson) + "/task/" + std::to_string(caisson) + "/children") >> init;
        bridge_disabled = first_line(conf + kBridge + "/disable_ipv6");
        end_disabled = first_line(conf + host_end + "/disable_ipv6");
        eth0_disabled = in_netns_of(init, [&] { return first_line(conf + "eth0/disable_ipv6"); });
        // Enabled again, without duplicate address detection so that the addresses are there
        // at once (disabled first: an address made before would still be tentative).
        for (const std::string& link : {std::string(kBridge), host_end}) {
            EXPECT_TRUE(write_line(conf + link + "/disable_ipv6", "1")) << link;
            EXPECT_TRUE(write_line(conf + link + "/accept_dad", "0")) << link;
            EXPECT_TRUE(write_line(conf + link + "/disable_ipv6", "0")) << link;
        }
        bridge_address = link_local(kBridge);
        dialled = in_netns_of(init, [&]() -> std::string {
            if (!write_line(conf + "eth0/disable_ipv6", "1") || !write_line(conf + "eth0/accept_dad", "0") ||
                !write_line(conf + "eth0/disable_ipv6", "0"))
                return "enable failed";
            if (link_local("eth0").empty()) return "no address on eth0";
            sockaddr_in6 to{};
            to.sin6_family = AF_INET6;
            to.sin6_port = htons(7111);
            to.sin6_scope_id = ::if_nametoindex("eth0");
            if (::inet_pton(AF_INET6, bridge_address.c_str(), &to.sin6_addr) != 1) return "no bridge address";
            // EADDRNOTAVAIL while the kernel has not yet made eth0's new address usable as a
            // source (a few milliseconds at most): asked again, up to two seconds.
            std::string r = "EADDRNOTAVAIL";
            for (int attempt = 0; attempt < 40 && r == "EADDRNOTAVAIL"; ++attempt) {
                if (attempt > 0) ::usleep(50000);
                int s = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
                timeval limit{2, 0};  // a dropped SYN: EINPROGRESS after 2 s
                ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
                r = ::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0 ? "connected" : strerrorname_np(errno);
                ::close(s);
            }
            return r;
        });
        EXPECT_TRUE(connect_to_the_serving_sandbox());  // which ends it
    };
    RunResult serving = run_probe(veth_args(), {"--serve", "8080", "1"}, opts);
    ::close(host_service);
    EXPECT_EQ(serving.status, 0) << serving.err;
    EXPECT_EQ(bridge_disabled, "1");
    EXPECT_EQ(end_disabled, "1");
    EXPECT_EQ(eth0_disabled, "1");
    ASSERT_FALSE(bridge_address.empty()) << "IPv6 enabled again on the bridge gave it no link-local address";
    EXPECT_NE(dialled, "connected") << "the host's service on [::]:7111 at " << bridge_address;
    EXPECT_EQ(dialled, "EINPROGRESS") << "dropped, so the connect times out";
    EXPECT_NE(dialled, "enable failed");
    EXPECT_NE(dialled, "no address on eth0");
    EXPECT_EQ(leftovers(), "");
}

// A bridge an earlier caisson made (IPv6 on it, its filter of family ip alone), with a sandbox
// on it still, takes this one's setup when the next sandbox joins it.
TEST(Veth, ABridgeAnEarlierCaissonMadeTakesTodaysSetup) {
    if (::access("/proc/sys/net/ipv6", F_OK) != 0) GTEST_SKIP() << "this kernel has no IPv6";
    const std::string table = "caisson_cstest0";
    std::string reenabled, joined_ipv6, tables;
    RunResult joined;
    RunOptions opts;
    const std::string alias = std::string("/sys/class/net/") + kBridge + "/ifalias";
    std::string made_alias, joined_alias;
    opts.on_ready = [&](pid_t) {
        made_alias = first_line(alias);
        EXPECT_EQ(std::system((std::string("ip link set dev ") + kBridge + " alias ''").c_str()), 0);  // as before be3c61e
        EXPECT_TRUE(write_line(std::string("/proc/sys/net/ipv6/conf/") + kBridge + "/disable_ipv6", "0"));
        reenabled = first_line(std::string("/proc/sys/net/ipv6/conf/") + kBridge + "/disable_ipv6");
        EXPECT_EQ(std::system(("nft 'delete table inet " + table + "; add table ip " + table + "'").c_str()), 0);
        joined = run_probe(veth_args(), {});
        joined_ipv6 = first_line(std::string("/proc/sys/net/ipv6/conf/") + kBridge + "/disable_ipv6");
        joined_alias = first_line(alias);
        tables = command_output("nft list tables");
        EXPECT_TRUE(connect_to_the_serving_sandbox());
    };
    RunResult serving = run_probe(veth_args(), {"--serve", "8080", "1"}, opts);
    EXPECT_EQ(serving.status, 0) << serving.err;
    EXPECT_EQ(joined.status, 0) << joined.err;
    EXPECT_EQ(reenabled, "0");
    EXPECT_EQ(joined_ipv6, "1");
    EXPECT_EQ(made_alias, "caisson sandboxes") << "what tells caisson's egress proxy not to lead into it";
    EXPECT_EQ(joined_alias, "caisson sandboxes");
    EXPECT_NE(tables.find("table inet " + table), std::string::npos) << tables;
    EXPECT_EQ(tables.find("table ip " + table + "\n"), std::string::npos) << tables;
    EXPECT_EQ(leftovers(), "");
}

TEST(Veth, AKilledSupervisorLeavesALeaseThatGcRemoves) {
    RunOptions opts;
    bool bridge_seen = false;
    opts.on_ready = [&](pid_t pid) {
        bridge_seen = ::if_nametoindex(kBridge) != 0;
        ::kill(pid, SIGKILL);
    };
    RunResult r = run_probe(veth_args(), {"--wait-signal"}, opts);
    EXPECT_EQ(r.status, 128 + SIGKILL);
    EXPECT_TRUE(bridge_seen);
    EXPECT_NE(leftovers(), "");  // the lease, the bridge and its NAT outlive a SIGKILL...
    RunResult gc = run_caisson({"gc"});
    EXPECT_EQ(gc.status, 0) << gc.err;
    EXPECT_NE(gc.out.find("removed cstest0 10.233.0.2"), std::string::npos) << gc.out;
    EXPECT_EQ(leftovers(), "");  // ... until gc
}

TEST(Veth, RefusalsComeBeforeAnythingIsMade) {
    TestHost th("cth3", "10.232.3.1", "10.232.3.2");
    ASSERT_TRUE(th.ok());
    int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(7103);
    ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(taken, 1), 0);
    struct Case {
        std::vector<std::string> args;
        std::string message;
    } cases[] = {
        {{"--net", "veth", "--veth-bridge", kBridge, "--veth-subnet", "10.232.3.0/24"},
         "--veth-subnet 10.232.3.0/24 overlaps the host's route 10.232.3.0/30"},
        {veth_args({"--publish", "7103:80"}), "--publish: host port in use: tcp 7103: Address already in use"},
        {{"--publish", "8080"}, "--publish: needs --net veth or --net user"},
        {{"--net", "veth", "--veth-subnet", "10.1.1.1/24"}, "address has bits set beyond the /24 prefix"},
        {{"--net", "veth", "--veth-subnet", "10.1.0.0/31"}, "the prefix must be 8 to 30 bits"},
        {{"--net", "veth", "--veth-bridge", "no/slash"}, "--veth-bridge: 1 to 15 letters"},
        {{"--net", "veth", "--share-net"}, "needs a network namespace of its own"},
        {{"--publish", "tcp:0:80"}, "--publish: expected [tcp:|udp:]HOST_PORT[:SANDBOX_PORT]"},
    };
    for (const auto& c : cases) {
        expect_refused(c.args, c.message);
        EXPECT_EQ(leftovers(), "") << c.message;
    }
    ::close(taken);
    // An interface caisson did not make is never adopted (nor changed, nor removed).
    ASSERT_TRUE(TestHost::sh("ip link add cstestx type bridge"));
    expect_refused({"--net", "veth", "--veth-bridge", "cstestx", "--veth-subnet", kSubnet},
                   "--veth-bridge cstestx: an interface of that name exists, and caisson did not make it");
    EXPECT_NE(::if_nametoindex("cstestx"), 0u);
    TestHost::sh("ip link del cstestx");
    EXPECT_EQ(::access("/run/caisson/net/cstestx", F_OK), -1);
    RunOptions as_user;
    as_user.as_uid = kUnprivilegedUid;
    expect_refused({"--net", "veth"}, "--net veth: links, bridges and NAT need root", as_user);
}

}  // namespace
}  // namespace caisson::test
