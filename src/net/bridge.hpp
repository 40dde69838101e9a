// veth networking as root: a bridge shared by every sandbox that names it, a veth pair per
// sandbox (its inside end created directly in the sandbox's network namespace, so it is
// never visible on the host under the inside name), addresses from the bridge's subnet,
// masquerade for outbound traffic and DNAT for published ports. The bridge, its NAT table
// and the forwarding switch (when caisson turned it on) go with the last live lease.
#pragma once

#include "net/nftables.hpp"

#include <caisson/policy.hpp>

#include <sys/types.h>

#include <string>
#include <vector>

namespace caisson::net {

struct UpRequest {
    std::string bridge;
    std::string subnet;  // ADDR/PREFIX
    pid_t sandbox_pid = 0;  // its /proc/PID/ns/net receives eth0
    pid_t owner = 0;        // the supervisor: the lease lives as long as it does
    std::vector<PortMapping> publish;
};

struct UpResult {
    std::string address;  // ADDR/PREFIX inside
    std::string gateway;
    std::string host_link;
};

// Throws caisson::Error; undoes its own steps first.
UpResult up(const UpRequest& r);
// Removes the sandbox's link, published ports and lease; the bridge when it was the last.
void down(const std::string& bridge, const std::string& address);
// Removes what supervisors that are gone left behind. Returns what it removed.
std::vector<std::string> collect(const std::string& bridge);
// Every bridge with state under /run/caisson/net.
std::vector<std::string> known_bridges();

}  // namespace caisson::net
