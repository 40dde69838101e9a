// What a network namespace delivers to itself: the destinations of its local, broadcast and
// anycast routes in the tables every packet is looked up in (local and main), and every
// address of its interfaces, read from rtnetlink. That is its addresses (one whose route is
// not there yet, an IPv6 address in duplicate address detection, among them), their
// subnets' broadcast addresses, and prefixes made local whole (`ip route add local
// 10.9.0.0/16 dev lo`). A service of the host bound to every address
// answers at each of them, the public ones among them, so "internet only" (--deny-private)
// must keep them out as it keeps out loopback.
#pragma once

#include <caisson/policy.hpp>

#include <vector>

namespace caisson::mech {

// The namespace `netns_fd` is, or the caller's when -1. Each comes back with its prefix,
// all ports, and text "local ADDR/PREFIX". A copy of this process made by clone enters
// another namespace to open the netlink socket (entering is not for a process with
// threads); the answer is read here. Throws caisson::Error naming the step and errno.
std::vector<NetDestination> local_destinations(int netns_fd);

}  // namespace caisson::mech
