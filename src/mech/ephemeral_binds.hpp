// filter/bind_program's hooks on a cgroup v2 directory: every bind of its processes to the
// wildcard address in this process's network namespace gets port 0 (an ephemeral port) and
// no port sharing, unless it asked for one of `kept`. For pasta under --net user as root
// (filter/bind_program.hpp says why).
#pragma once

#include "filter/bind_program.hpp"

#include <cstdint>
#include <vector>

namespace caisson::mech {

// Attached for IPv4 and IPv6 before any process is in the directory; they go with it.
// Throws caisson::Error naming the hook and errno (the verifier's words on a load failure).
void attach_ephemeral_binds(int cgroup_fd, const std::vector<bind_program::Kept>& kept);

}  // namespace caisson::mech
