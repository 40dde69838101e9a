// What kind of route the kernel of this network namespace takes to an address: another
// machine's (RTN_UNICAST), one of its own (RTN_LOCAL, whatever address it picks as the source:
// a secondary address's local route names the primary one), a broadcast, and so on. Asked over
// rtnetlink (RTM_GETROUTE) for a TCP connection to that port, as policy routing would see it.
#pragma once

#include <sys/socket.h>

#include <cstdint>

namespace caisson::mech {

// The route's rtm_type (RTN_*); an address with no route (ENETUNREACH and the like) is
// RTN_UNREACHABLE. -1 with errno when the kernel could not be asked.
int route_type(const sockaddr_storage& to, uint16_t port);

}  // namespace caisson::mech
