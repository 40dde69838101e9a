// What confines the egress proxy (caisson-egress) beyond its ids: a filter of its own
// (profiles/seccomp/egress-proxy.toml: relay, resolve, threads; no exec, fork or executable
// memory; signals to its own threads only) and Landlock: files only to read, under /etc (the
// resolver's configuration, and where its files link to), no TCP bind, TCP connect only to
// the ports the rules reach and DNS's, no signal or abstract socket outside. Landlock is best
// effort (a kernel without it, or an older ABI, still serves, and the report says what
// held); the filter is not. Decides only: the proxy applies it with restrict_self.
#pragma once

#include <caisson/restrict.hpp>

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace caisson::run {

// `upstream_ports`: where the rules lead (53 is added); `self`: the proxy's own pid.
SelfPolicy egress_confinement(std::vector<uint16_t> upstream_ports, pid_t self);

}  // namespace caisson::run
