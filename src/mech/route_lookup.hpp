// What kind of route the kernel of this network namespace takes to an address: another
// machine's (RTN_UNICAST), one of its own (RTN_LOCAL, whatever address it picks as the source:
// a secondary address's local route names the primary one), a broadcast, and so on. Asked over
// rtnetlink (RTM_GETROUTE) for a TCP connection to that port, as policy routing would see it.
#pragma once

#include <sys/socket.h>

#include <cstdint>

namespace caisson::mech {

struct RouteLookup {
    int type = -1;     // the route's rtm_type (RTN_*); RTN_UNREACHABLE for no route at all
    int oif = 0;       // the interface it goes out of, 0 if none was said
};

// -1 as the type, with errno, when the kernel could not be asked.
RouteLookup route_to(const sockaddr_storage& to, uint16_t port);

// The alias caisson gives the bridges of `--net veth` (IFLA_IFALIAS): what leads into one
// leads to sandboxes, which no other sandbox's traffic may reach through the host.
inline constexpr const char* kVethBridgeAlias = "caisson sandboxes";

// An interface's alias ("" when it has none); nullopt-like false when it cannot be read.
bool link_alias(int ifindex, char (&alias)[128]);

}  // namespace caisson::mech
