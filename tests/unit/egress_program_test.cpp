// The egress filter's source-route program, run by the kernel (BPF_PROG_TEST_RUN) over
// packets made here, as the sandbox's sockets could have them sent: what passes and what is
// refused. Loading needs root (CAP_BPF); otherwise the test skips.
#include "filter/egress_program.hpp"
#include "mech/ebpf.hpp"

#include <caisson/error.hpp>

#include <gtest/gtest.h>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace caisson {
namespace {

// An Ethernet header (the test run takes one) and then the network header and what follows.
std::vector<uint8_t> frame(uint16_t ethertype, std::vector<uint8_t> packet) {
    std::vector<uint8_t> f(12, 0);
    f.push_back(static_cast<uint8_t>(ethertype >> 8));
    f.push_back(static_cast<uint8_t>(ethertype));
    f.insert(f.end(), packet.begin(), packet.end());
    f.resize(std::max<size_t>(f.size(), 14 + 64), 0);  // room for a transport header
    return f;
}

// An IPv6 packet: the fixed header with `next` as its next header, then `ext`.
std::vector<uint8_t> ipv6(uint8_t next, std::vector<uint8_t> ext = {}) {
    std::vector<uint8_t> p(40, 0);
    p[0] = 0x60;
    p[4] = 0;
    p[5] = static_cast<uint8_t>(ext.size() + 8);
    p[6] = next;
    p[7] = 64;
    p.insert(p.end(), ext.begin(), ext.end());
    return p;
}

// An extension header of 8 bytes (length 0) followed by `next`.
std::vector<uint8_t> ext8(uint8_t next) { return {next, 0, 0, 0, 0, 0, 0, 0}; }

std::vector<uint8_t> operator+(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

int run(int prog, const std::vector<uint8_t>& data) {
    bpf_attr a{};
    a.test.prog_fd = static_cast<uint32_t>(prog);
    a.test.data_in = reinterpret_cast<uint64_t>(data.data());
    a.test.data_size_in = static_cast<uint32_t>(data.size());
    a.test.repeat = 1;
    if (::syscall(SYS_bpf, BPF_PROG_TEST_RUN, &a, sizeof(a)) < 0) return -errno;
    return static_cast<int>(a.test.retval);
}

TEST(EgressProgram, SourceRoutesAreRefusedAndTheRestPasses) {
    kernel::Fd prog;
    try {
        prog = mech::load_bpf_program(BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, egress::source_route_program(),
                                      "caisson_test", "source-route program");
    } catch (const Error& e) {
        if (::geteuid() != 0) GTEST_SKIP() << "loading a cgroup program needs root: " << e.what();
        FAIL() << e.what();
    }
    std::vector<uint8_t> ipv4(20, 0);
    ipv4[0] = 0x45;
    // An IPv4 header with these options, padded with end-of-list to a multiple of four.
    auto with_options = [&](std::vector<uint8_t> options) {
        while (options.size() % 4) options.push_back(0);
        std::vector<uint8_t> p = ipv4;
        p[0] = static_cast<uint8_t>(0x40 | (5 + options.size() / 4));
        p.insert(p.end(), options.begin(), options.end());
        return frame(ETH_P_IP, p);
    };
    const std::vector<uint8_t> lsrr = {0x83, 7, 4, 10, 0, 0, 2}, ssrr = {0x89, 7, 4, 10, 0, 0, 2};
    const std::vector<uint8_t> record_route = {0x07, 7, 4, 0, 0, 0, 0}, timestamp = {0x44, 4, 5, 0};
    const std::vector<uint8_t> cipso = {0x86, 10, 0, 0, 0, 1, 0x01, 4, 0, 0};
    // A destination options header of 16 bytes whose second half looks like a header of its
    // own (next: UDP), then another that leads to a routing header: the walk must skip 16
    // bytes, not 8, to see it.
    std::vector<uint8_t> long_options = {IPPROTO_DSTOPTS, 1, 0, 0, 0, 0, 0, 0, IPPROTO_UDP, 0, 0, 0, 0, 0, 0, 0};
    const struct {
        const char* what;
        std::vector<uint8_t> data;
        int verdict;
    } cases[] = {
        {"IPv4", frame(ETH_P_IP, ipv4), 1},
        {"IPv4, a loose source route", with_options(lsrr), 0},
        {"IPv4, a strict source route", with_options(ssrr), 0},
        {"IPv4, no-operations then a loose source route", with_options(std::vector<uint8_t>{1, 1, 1} + lsrr), 0},
        {"IPv4, record route then a strict source route", with_options(record_route + ssrr), 0},
        {"IPv4, record route", with_options(record_route), 1},
        {"IPv4, a timestamp", with_options(timestamp), 1},
        {"IPv4, a CIPSO label", with_options(cipso), 1},
        {"IPv4, a source route after the end of the list", with_options(std::vector<uint8_t>{0} + lsrr), 1},
        {"IPv4, an option of length 1", with_options({0x07, 1}), 0},
        {"IPv6 TCP", frame(ETH_P_IPV6, ipv6(IPPROTO_TCP)), 1},
        {"IPv6 UDP", frame(ETH_P_IPV6, ipv6(IPPROTO_UDP)), 1},
        {"IPv6 routing header", frame(ETH_P_IPV6, ipv6(IPPROTO_ROUTING, ext8(IPPROTO_UDP))), 0},
        {"IPv6 hop-by-hop (BIG TCP's jumbo) then TCP", frame(ETH_P_IPV6, ipv6(IPPROTO_HOPOPTS, ext8(IPPROTO_TCP))), 1},
        {"IPv6 hop-by-hop then a routing header",
         frame(ETH_P_IPV6, ipv6(IPPROTO_HOPOPTS, ext8(IPPROTO_ROUTING) + ext8(IPPROTO_UDP))), 0},
        {"IPv6 destination options then a routing header",
         frame(ETH_P_IPV6, ipv6(IPPROTO_DSTOPTS, ext8(IPPROTO_ROUTING) + ext8(IPPROTO_UDP))), 0},
        {"IPv6 four option headers then UDP",
         frame(ETH_P_IPV6, ipv6(IPPROTO_HOPOPTS, ext8(IPPROTO_DSTOPTS) + ext8(IPPROTO_DSTOPTS) + ext8(IPPROTO_DSTOPTS) +
                                                     ext8(IPPROTO_UDP))),
         1},
        {"IPv6 five option headers: deeper than the walk",
         frame(ETH_P_IPV6, ipv6(IPPROTO_HOPOPTS, ext8(IPPROTO_DSTOPTS) + ext8(IPPROTO_DSTOPTS) + ext8(IPPROTO_DSTOPTS) +
                                                     ext8(IPPROTO_DSTOPTS) + ext8(IPPROTO_UDP))),
         0},
        {"IPv6 whose option header leads past the packet to another", frame(ETH_P_IPV6, ipv6(IPPROTO_HOPOPTS, {IPPROTO_DSTOPTS, 200})),
         0},
        {"IPv6 a 16-byte destination options header then a routing header",
         frame(ETH_P_IPV6, ipv6(IPPROTO_DSTOPTS, long_options + ext8(IPPROTO_ROUTING) + ext8(IPPROTO_UDP))), 0},
        {"ARP (neither)", frame(ETH_P_ARP, std::vector<uint8_t>(28, 0)), 1},
    };
    for (const auto& c : cases) EXPECT_EQ(run(prog.get(), c.data), c.verdict) << c.what;
}

}  // namespace
}  // namespace caisson
