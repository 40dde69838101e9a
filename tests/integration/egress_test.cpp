// The egress policy (--allow-connect, --deny-private): cgroup BPF programs decide each
// connect and UDP send, for IPv4 and IPv6 (and IPv4 reached through an IPv6 socket); the
// report counts and lists what was refused; Landlock refuses TCP ports outside the list too.
// Observed from inside with the probe's --dial; all traffic stays on loopback.
#include "harness.hpp"
#include "netns.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace caisson::test {
namespace {

// A TCP listener on a loopback address and a kernel-chosen port.
class Listener {
public:
    explicit Listener(bool v6, int port = 0) {
        fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_storage ss{};
        socklen_t len;
        if (v6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_addr = in6addr_loopback;
            a->sin6_port = htons(static_cast<uint16_t>(port));
            len = sizeof(*a);
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&ss);
            a->sin_family = AF_INET;
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a->sin_port = htons(static_cast<uint16_t>(port));
            len = sizeof(*a);
        }
        ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0 && ::listen(fd_, 16) == 0 &&
              ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
        port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }
    ~Listener() { ::close(fd_); }
    bool ok() const { return ok_; }
    int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
    bool ok_ = false;
};

std::string report_of(const TempDir& dir) { return dir.path() + "/report.json"; }

TEST(Egress, AllowedDestinationsPassAndEveryOtherIsRefused) {
    Listener v4(false);
    ASSERT_TRUE(v4.ok());
    Listener v6(true, v4.port());  // the same port on ::1, so that only the address differs
    if (!v6.ok() && ::access("/proc/sys/net/ipv6", F_OK) != 0) GTEST_SKIP() << "this kernel has no IPv6";
    ASSERT_TRUE(v6.ok());
    const std::string p = std::to_string(v4.port());
    TempDir dir;
    RunResult r = run_probe({"--net", "host", "--allow-connect", "127.0.0.1:" + p, "--report", report_of(dir)},
                            {"--dial", "tcp:127.0.0.1:" + p,                // allowed: a real connection
                             "--dial", "tcp6:[::ffff:127.0.0.1]:" + p,      // the same host through IPv6
                             "--dial", "tcp:[::1]:" + p,                    // IPv6 not listed
                             "--dial", "tcp:127.0.0.2:" + p,                // another address, same port
                             "--dial", "tcp6:[::ffff:127.0.0.2]:" + p,      // ... smuggled through IPv6
                             "--dial", "udp:127.0.0.1:" + p,                // UDP to the allowed address and port
                             "--dial", "udp:127.0.0.3:" + p,                // UDP elsewhere
                             "--dial", "udp:[::1]:" + p,
                             "--dial", "tcp:127.0.0.1:1"});                 // another TCP port
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& d = r.probe["dials"];
    EXPECT_EQ(d["tcp:127.0.0.1:" + p], "ok");
    EXPECT_EQ(d["tcp6:[::ffff:127.0.0.1]:" + p], "ok");
    EXPECT_EQ(d["tcp:[::1]:" + p], "EPERM");
    EXPECT_EQ(d["tcp:127.0.0.2:" + p], "EPERM");
    EXPECT_EQ(d["tcp6:[::ffff:127.0.0.2]:" + p], "EPERM");
    EXPECT_EQ(d["udp:127.0.0.1:" + p], "ok");
    EXPECT_EQ(d["udp:127.0.0.3:" + p], "EPERM");
    EXPECT_EQ(d["udp:[::1]:" + p], "EPERM");
    // A TCP port outside the list: Landlock's layer refuses it before the cgroup program.
    EXPECT_EQ(d["tcp:127.0.0.1:1"], "EACCES");

    nlohmann::json report = read_json(report_of(dir));
    ASSERT_TRUE(report.contains("egress")) << report.dump();
    EXPECT_EQ(report["egress"]["denied"], 5);
    std::vector<std::string> denials = report["egress"]["denials"];
    EXPECT_EQ(denials, (std::vector<std::string>{"connect6 tcp [::1]:" + p, "connect4 tcp 127.0.0.2:" + p,
                                                 "connect6 tcp [::ffff:127.0.0.2]:" + p, "sendmsg4 udp 127.0.0.3:" + p,
                                                 "sendmsg6 udp [::1]:" + p}));
    bool landlock = false;
    for (const auto& prot : report["protections"]) landlock |= prot == "landlock net.connect_tcp";
    EXPECT_TRUE(landlock) << report["protections"].dump();
}

TEST(Egress, PrefixesPortRangesAndIpv6Rules) {
    Listener v6(true);
    ASSERT_TRUE(v6.ok());
    const std::string p = std::to_string(v6.port());
    RunResult r = run_probe({"--net", "host", "--allow-connect", "[::1]/128:" + p + "-" + p,
                             "--allow-connect", "127.0.0.0/8:1-2"},
                            {"--dial", "tcp:[::1]:" + p, "--dial", "udp:127.9.9.9:2", "--dial", "udp:127.9.9.9:3",
                             "--dial", "udp:[::2]:" + p});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& d = r.probe["dials"];
    EXPECT_EQ(d["tcp:[::1]:" + p], "ok");
    EXPECT_EQ(d["udp:127.9.9.9:2"], "ok");
    EXPECT_EQ(d["udp:127.9.9.9:3"], "EPERM");
    EXPECT_EQ(d["udp:[::2]:" + p], "EPERM");
}

TEST(Egress, ARuleForEveryAddressEndsTheList) {
    // `any:53` takes every address of both families: the rules after it are never reached,
    // and the programs must still load (the verifier refuses unreachable code).
    RunResult r = run_probe({"--net", "none", "--allow-connect", "any:53", "--allow-connect", "any"},
                            {"--dial", "udp:127.0.0.1:53", "--dial", "udp:[::1]:54"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["dials"]["udp:127.0.0.1:53"], "ok");
    EXPECT_EQ(r.probe["dials"]["udp:[::1]:54"], "ok");
}

TEST(Egress, DenyPrivateLeavesOnlyTheInternetAndExplicitExceptions) {
    // In a namespace of its own (only lo): a public address is let through by the filter and
    // then has no route (ENETUNREACH); private ones are refused by the filter (EPERM).
    RunResult r = run_probe({"--net", "none", "--deny-private", "--allow-connect", "127.0.0.1:7"},
                            {"--dial", "udp:192.0.2.1:53", "--dial", "udp:[2001:db8::1]:53", "--dial", "udp:10.1.2.3:53",
                             "--dial", "udp:192.168.1.1:53", "--dial", "udp:169.254.169.254:80",
                             "--dial", "udp:[fd00::1]:53", "--dial", "udp:[fe80::1]:53", "--dial", "udp:[::1]:53",
                             "--dial", "udp:[::ffff:10.0.0.1]:53", "--dial", "udp:127.0.0.1:7",
                             "--dial", "udp:127.0.0.1:8"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& d = r.probe["dials"];
    EXPECT_EQ(d["udp:192.0.2.1:53"], "ENETUNREACH");
    EXPECT_EQ(d["udp:[2001:db8::1]:53"], "ENETUNREACH");
    for (const char* denied : {"udp:10.1.2.3:53", "udp:192.168.1.1:53", "udp:169.254.169.254:80", "udp:[fd00::1]:53",
                               "udp:[fe80::1]:53", "udp:[::1]:53", "udp:[::ffff:10.0.0.1]:53", "udp:127.0.0.1:8"})
        EXPECT_EQ(d[denied], "EPERM") << denied;
    EXPECT_EQ(d["udp:127.0.0.1:7"], "ok");
}

// "Internet only" keeps out the host itself at every address it has, not only at loopback:
// a service bound to every address answers at a public one too (an attack run reached the
// host's so, as root with --net host). The host here is a namespace whose one link holds a
// public address (a veth pair's end), with a whole prefix made local (AnyIP); caisson runs in it (--net host)
// or joins it (--net ns:PATH).
TEST(Egress, DenyPrivateKeepsOutTheHostsOwnPublicAddresses) {
    NetnsHolder ns([] {
        // The IPv6 address is in duplicate address detection at the start (no local route
        // yet); a TPROXY-style local route in a table of its own is used only where a rule
        // sends packets there, and takes nothing else out.
        return std::system("ip link set lo up && ip link add cstest-a type veth peer name cstest-b "
                           "&& ip addr add 203.0.113.7/24 dev cstest-a && ip link set cstest-b up && ip link set cstest-a up "
                           "&& ip route add local 198.51.100.0/24 dev lo && ip route add local 0.0.0.0/0 dev lo table 100 "
                           "&& { ! test -e /proc/sys/net/ipv6 || ip addr add 2001:db8::7/64 dev cstest-a; }") == 0;
    });
    const bool v6 = ::access("/proc/sys/net/ipv6", F_OK) == 0;
    std::vector<std::string> dials = {"--dial", "udp:203.0.113.7:9",   "--dial", "udp:203.0.113.255:9",
                                      "--dial", "udp:198.51.100.77:9", "--dial", "udp:203.0.113.8:9",
                                      "--dial", "udp:203.0.113.7:7",   "--dial", "tcp:203.0.113.7:9",
                                      "--dial", "udp:[::ffff:203.0.113.7]:9"};
    if (v6) dials.insert(dials.end(), {"--dial", "udp:[2001:db8::7]:9", "--dial", "tcp:[2001:db8::7]:9"});
    RunOptions inside;
    inside.wrapper = {"/usr/bin/nsenter", "--net=" + ns.path()};
    RunResult host = run_probe({"--net", "host", "--deny-private", "--allow-connect", "203.0.113.7:7"}, dials, inside);
    RunResult joined = run_probe({"--net", "ns:" + ns.path(), "--deny-private", "--allow-connect", "203.0.113.7:7"}, dials);
    for (const RunResult* r : {&host, &joined}) {
        ASSERT_EQ(r->status, 0) << r->err;
        const auto& d = r->probe["dials"];
        EXPECT_EQ(d["udp:203.0.113.7:9"], "EPERM") << "the host's address";
        EXPECT_EQ(d["udp:203.0.113.255:9"], "EPERM") << "its subnet's broadcast address";
        EXPECT_EQ(d["udp:198.51.100.77:9"], "EPERM") << "an address of a prefix made local";
        EXPECT_EQ(d["udp:203.0.113.8:9"], "ok") << "another machine on that link";
        EXPECT_EQ(d["udp:203.0.113.7:7"], "ok") << "what --allow-connect lists";
        EXPECT_EQ(d["tcp:203.0.113.7:9"], "EPERM") << "TCP too";
        EXPECT_EQ(d["udp:[::ffff:203.0.113.7]:9"], "EPERM") << "through an IPv6 socket";
        if (v6) {
            EXPECT_EQ(d["udp:[2001:db8::7]:9"], "EPERM") << "an IPv6 address still in duplicate address detection";
            EXPECT_EQ(d["tcp:[2001:db8::7]:9"], "EPERM");
        }
    }
}

TEST(Egress, NoneAllowsNothingAndNoRawOrPingSockets) {
    // ICMP (ping) sockets open only where ping_group_range lets the group in: a namespace
    // that does, so that it is the filter that says no.
    NetnsHolder ns([] {
        std::ofstream f("/proc/sys/net/ipv4/ping_group_range");
        f << "0 2147483647";
        return static_cast<bool>(f.flush());
    });
    RunResult open = run_probe({"--net", "ns:" + ns.path()}, {"--try", "ping-socket"});
    ASSERT_EQ(open.status, 0) << open.err;
    EXPECT_EQ(open.probe["tries"]["ping-socket"], "ok");
    RunResult r = run_probe({"--net", "ns:" + ns.path(), "--allow-connect", "none"},
                            {"--try", "ping-socket", "--dial", "udp:127.0.0.1:9", "--dial", "tcp:127.0.0.1:9"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["tries"]["ping-socket"], "EPERM");
    EXPECT_EQ(r.probe["dials"]["udp:127.0.0.1:9"], "EPERM");
    EXPECT_NE(r.probe["dials"]["tcp:127.0.0.1:9"], "ECONNREFUSED");  // Landlock (EACCES) or the filter
}

// The connect and sendmsg hooks judge the socket's address; an IPv6 routing header, which
// any socket may carry (IPV6_RTHDR), sends the packet to its first segment instead. An attack
// run got datagrams to a forbidden address so; the egress hook refuses such packets.
TEST(Egress, ARoutingHeaderDoesNotLeadPastTheRules) {
    if (::access("/proc/sys/net/ipv6", F_OK) != 0) GTEST_SKIP() << "this kernel has no IPv6";
    NetnsHolder ns([] {
        return std::system("ip link add cstest-a type veth peer name cstest-b && ip -6 addr add fd99::1/64 dev cstest-a nodad "
                           "&& ip link set cstest-b up && ip link set cstest-a up") == 0;
    });
    RunResult r = run_probe({"--net", "ns:" + ns.path(), "--allow-connect", "[fd99::3]:9"},
                            {"--dial", "udp:[fd99::3]:9", "--dial", "udp:[fd99::2]:9", "--routed-send", "fd99::3,fd99::2,9"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["dials"]["udp:[fd99::3]:9"], "ok") << "the allowed destination";
    EXPECT_EQ(r.probe["dials"]["udp:[fd99::2]:9"], "EPERM") << "another, straight";
    EXPECT_EQ(r.probe["routed_sends"]["fd99::3,fd99::2,9"], "EPERM") << "another, through the allowed one's header";
}

TEST(Egress, BadDestinationsAndUnsafeCombinationsAreRefusedBeforeAnythingStarts) {
    struct Case {
        std::vector<std::string> args;
        std::string message;
    } cases[] = {
        {{"--allow-connect", "10.0.0.0/33"}, "--allow-connect: bad prefix length '33'"},
        {{"--allow-connect", "10.0.0.1:70000"}, "--allow-connect: bad port '70000'"},
        {{"--allow-connect", "10.1.2.3/8"}, "address has bits set beyond the /8 prefix"},
        {{"--allow-connect", "[::1"}, "--allow-connect: missing ']'"},
        {{"--allow-connect", "example.com:80"}, "not an IPv4 or IPv6 address: 'example.com'"},
        {{"--allow-connect", "10.0.0.1:90-80"}, "port range runs backwards"},
        {{"--allow-connect", "[10.0.0.1]:80"}, "brackets are for IPv6 addresses"},
        {{"--deny-private", "--cap-add", "NET_RAW"}, "would keep CAP_NET_RAW"},
    };
    for (const auto& c : cases) expect_refused(c.args, c.message);
    // An ordinary user cannot attach cgroup programs: the rules go through caisson's egress
    // proxy, which takes IPv4 prefixes of /8 or narrower with a few ports, not loopback, and
    // only as the sandbox's one way out (tests/egress_clients_test.sh runs them).
    RunOptions as_user;
    as_user.as_uid = kUnprivilegedUid;
    expect_refused({"--allow-connect", "loopback:80"}, "not loopback", as_user);
    expect_refused({"--allow-connect", "[2001:db8::1]:443"}, "IPv6 destinations need root", as_user);
    expect_refused({"--allow-connect", "10.0.0.0/8"}, "at most 32 ports in all", as_user);
    expect_refused({"--allow-connect", "10.0.0.1:443", "--net", "host"}, "needs --net none", as_user);
}

}  // namespace
}  // namespace caisson::test
