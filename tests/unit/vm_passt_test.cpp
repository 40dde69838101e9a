// --vm --net user's passt, as run/vm_passt starts it for a guest: frames written on its socket
// as qemu writes them (a 4-byte length, then the Ethernet frame), as a guest kernel of the
// program's making could address them. A SYN to the host's loopback or to 0.0.0.0 reaches
// nothing (the egress filter on passt's cgroup); one to a test host one veth pair away does.
#include "netns.hpp"
#include "run/vm_passt.hpp"
#include "policy/vm_plan.hpp"

#include <caisson/error.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace caisson::test {
namespace {

uint16_t checksum(const std::vector<uint8_t>& bytes, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < bytes.size(); i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
    if (bytes.size() % 2) sum += bytes.back() << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

// A UDP datagram ("x") from the guest's address to `to`:`port`, framed as qemu sends it.
std::vector<uint8_t> framed_udp(const char* to, uint16_t port, uint16_t from_port);

// A TCP SYN from the guest's address to `to`:`port`, framed as qemu sends it to passt.
std::vector<uint8_t> framed(const char* to, uint8_t proto, std::vector<uint8_t> l4, size_t checksum_at);

std::vector<uint8_t> framed_syn(const char* to, uint16_t port, uint16_t from_port) {
    std::vector<uint8_t> tcp(20, 0);
    put16(tcp, 0, from_port);
    put16(tcp, 2, port);
    tcp[7] = 1;             // sequence number
    tcp[12] = 5 << 4;       // header length
    tcp[13] = 0x02;         // SYN
    put16(tcp, 14, 65535);  // window
    return framed(to, IPPROTO_TCP, tcp, 16);
}

// The IPv4 and Ethernet headers around `l4` (protocol `proto`), and qemu's length.
std::vector<uint8_t> framed(const char* to, uint8_t proto, std::vector<uint8_t> l4, size_t checksum_at) {
    in_addr src{}, dst{};
    ::inet_pton(AF_INET, policy::vm::kGuestAddress, &src);
    ::inet_pton(AF_INET, to, &dst);
    std::vector<uint8_t> pseudo(12, 0);
    std::memcpy(&pseudo[0], &src, 4);
    std::memcpy(&pseudo[4], &dst, 4);
    pseudo[9] = proto;
    put16(pseudo, 10, static_cast<uint16_t>(l4.size()));
    std::vector<uint8_t> both = pseudo;
    both.insert(both.end(), l4.begin(), l4.end());
    put16(l4, checksum_at, checksum(both));
    std::vector<uint8_t> ip(20, 0);
    ip[0] = 0x45;
    put16(ip, 2, static_cast<uint16_t>(20 + l4.size()));
    ip[8] = 64;
    ip[9] = proto;
    std::memcpy(&ip[12], &src, 4);
    std::memcpy(&ip[16], &dst, 4);
    put16(ip, 10, checksum(ip));
    std::vector<uint8_t> frame = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00};
    frame.insert(frame.end(), ip.begin(), ip.end());
    frame.insert(frame.end(), l4.begin(), l4.end());
    std::vector<uint8_t> out(4, 0);
    out[2] = static_cast<uint8_t>(frame.size() >> 8);
    out[3] = static_cast<uint8_t>(frame.size());
    out.insert(out.end(), frame.begin(), frame.end());
    return out;
}

std::vector<uint8_t> framed_udp(const char* to, uint16_t port, uint16_t from_port) {
    std::vector<uint8_t> udp(9, 0);
    put16(udp, 0, from_port);
    put16(udp, 2, port);
    put16(udp, 4, 9);
    udp[8] = 'x';
    return framed(to, IPPROTO_UDP, udp, 6);
}

TEST(VmPasst, AGuestsFramesReachATestHostButNeverTheHostsLoopback) {
    if (::geteuid() != 0) GTEST_SKIP() << "passt's filter is cgroup BPF: root only";
    TestHost th("cth9", "10.232.9.1", "10.232.9.2");
    ASSERT_TRUE(th.ok());
    int outside = th.listen_on("10.232.9.2", 7010);
    ASSERT_GE(outside, 0);
    // Every address of this host's, the loopback among them.
    Fd host(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_port = htons(7110);
    int one = 1;
    ::setsockopt(host.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ASSERT_EQ(::bind(host.get(), reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
    ASSERT_EQ(::listen(host.get(), 8), 0);

    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    Fd guest(pair[0]), passt_end(pair[1]);
    int err[2];
    ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
    Fd err_r(err[0]), err_w(err[1]);
    std::optional<run::GuestNetwork> net;
    try {
        net.emplace(passt_end.get(), err_w.get());
    } catch (const Error& e) {
        if (std::string(e.what()).find("needs a cgroup v2 hierarchy (none is mounted)") != std::string::npos)
            GTEST_SKIP() << e.what();
        FAIL() << e.what();
    }
    passt_end.reset();
    err_w.reset();
    // And a datagram's: a UDP socket on every address of this host's (a resolver on the
    // loopback, 127.0.0.53, is the likely target).
    Fd datagrams(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    any.sin_port = htons(7111);
    ASSERT_EQ(::bind(datagrams.get(), reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
    uint16_t from = 40000;
    for (const char* to : {"127.0.0.1", "0.0.0.0", "127.1.2.3"}) {
        auto f = framed_syn(to, 7110, from++);
        ASSERT_EQ(::write(guest.get(), f.data(), f.size()), static_cast<ssize_t>(f.size()));
        auto u = framed_udp(to, 7111, from++);
        ASSERT_EQ(::write(guest.get(), u.data(), u.size()), static_cast<ssize_t>(u.size()));
    }
    // Then one that may pass: passt takes frames in order, so once it has connected this one,
    // it has judged those before.
    auto f = framed_syn("10.232.9.2", 7010, from++);
    ASSERT_EQ(::write(guest.get(), f.data(), f.size()), static_cast<ssize_t>(f.size()));
    EXPECT_EQ(accept_peer(outside, 10000), "10.232.9.1") << "passt carried nothing: is it running?";
    pollfd p[2] = {{host.get(), POLLIN, 0}, {datagrams.get(), POLLIN, 0}};
    EXPECT_EQ(::poll(p, 2, 200), 0) << "a guest's frame reached the host's loopback (" << (p[0].revents ? "TCP" : "UDP") << ")";
    ::close(outside);
}

}  // namespace
}  // namespace caisson::test
