// NAT for veth networking through libnftables: one table per bridge (masquerade of the
// sandboxes' subnet, and of loopback traffic DNATed to them), and one per sandbox that
// publishes ports. Each table is replaced or removed as a whole, in one transaction.
#pragma once

#include <caisson/policy.hpp>

#include <string>
#include <vector>

namespace caisson::net {


// "caisson_<bridge>", and "caisson_<bridge>_<sandbox address in hex>".
std::string bridge_table(const std::string& bridge);
std::string sandbox_table(const std::string& bridge, const std::string& address_hex);

// Throws caisson::Error with nft's own message.
void replace_bridge_table(const std::string& bridge, const std::string& subnet_cidr);
void replace_sandbox_table(const std::string& table, const std::string& address, const std::vector<PortMapping>& ports);
void delete_table(const std::string& table);  // no error when it is absent

}  // namespace caisson::net
