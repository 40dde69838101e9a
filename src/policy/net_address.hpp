// Destinations of the egress policy, as people write them: `10.0.0.0/8:443`,
// `[2001:db8::]/32:80-90`, `::1`, `loopback`, `any:53`. Pure parsing, no system calls.
#pragma once

#include <caisson/policy.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace caisson::net_address {

// One written destination; `loopback` and `any` stand for both families, so a list comes
// back. Throws Error::usage naming `what` and the text when it does not parse.
std::vector<NetDestination> parse_destination(std::string_view text, std::string_view what);

// What "internet only" keeps out: loopback, private, shared (CGNAT), link-local, multicast
// and reserved ranges of both families.
std::vector<NetDestination> private_ranges();

// --deny-private's rules with a namespace's local destinations added (mech/local_routes), the
// host's own addresses among them, except those a rule already holds: a service of the host
// bound to every address answers at its public ones too. Nothing is added without
// --deny-private (only --allow-connect's list is let through then).
void deny_local(Egress& e, const std::vector<NetDestination>& local);

// "10.0.0.1:443", "[::1]:53": an address and port as the report shows them.
std::string endpoint_text(bool v6, const uint8_t* addr, uint16_t port);

// An IPv4 subnet for veth networking: ADDR/PREFIX, prefix 8..30, host bits clear.
NetDestination parse_subnet(std::string_view text, std::string_view what);
// Host `n` of the subnet (1: the bridge), in network byte order.
std::array<uint8_t, 4> subnet_host(const NetDestination& subnet, uint32_t n);
uint32_t subnet_hosts(const NetDestination& subnet);  // usable hosts, .1 included
bool overlaps(const uint8_t a[4], unsigned a_prefix, const uint8_t b[4], unsigned b_prefix);
std::string ipv4_text(const uint8_t addr[4]);

// `[tcp:|udp:]HOST_PORT[:SANDBOX_PORT]`
PortMapping parse_publish(std::string_view text);

}  // namespace caisson::net_address
