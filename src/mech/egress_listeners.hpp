// The egress proxy's sockets inside the sandbox's network namespace (--allow-host): the
// resolver's UDP port 53 and one TCP listener per allowed port, on every local address;
// and the addresses they answer on added to the sandbox's `lo` (the block of addresses the
// resolver hands out, and the host's name servers, which the sandbox's /etc/resolv.conf
// names). A short-lived child enters the namespaces, makes them and passes them back: the
// proxy itself stays in the host's network, where its own connections go out.
#pragma once

#include "kernel/fd.hpp"

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace caisson::mech {

struct EgressListenPlan {
    std::array<uint8_t, 4> block{};       // an IPv4 block added to lo, all of it local
    unsigned block_prefix = 16;
    std::vector<std::array<uint8_t, 4>> v4_hosts;   // more IPv4 addresses for lo (/32)
    std::vector<std::pair<std::array<uint8_t, 4>, unsigned>> v4_nets;  // and prefixes, all of each local
    std::vector<std::array<uint8_t, 16>> v6_hosts;  // and IPv6 ones (/128)
    std::vector<uint16_t> tcp_ports;       // a listener on 0.0.0.0 for each
};

struct EgressSockets {
    kernel::Fd dns4, dns6;                // UDP 0.0.0.0:53, [::]:53 (v6 only; absent without IPv6)
    std::vector<kernel::Fd> tcp;          // in the order of tcp_ports
};

// `userns_fd` (-1: stay in ours, as root does) and `netns_fd` are the sandbox's. Throws
// caisson::Error naming the step, address or port, and errno.
EgressSockets make_egress_sockets(int userns_fd, int netns_fd, const EgressListenPlan& plan);

}  // namespace caisson::mech
