// The egress policy in the kernel: the programs of filter/egress_program attached to the
// sandbox's cgroup v2 directory before any process is in it, and the map of denials they
// fill. Attached without BPF_F_ALLOW_OVERRIDE or MULTI: nothing below can replace them.
// They go with the cgroup directory.
#pragma once

#include "kernel/fd.hpp"

#include <caisson/policy.hpp>
#include <caisson/sandbox.hpp>

namespace caisson::mech {

class EgressFilter {
public:
    // Throws caisson::Error naming the hook and errno (the verifier's words on a load failure).
    EgressFilter(int cgroup_fd, const Egress& policy);
    EgressReport report() const;

private:
    kernel::Fd map_;
    std::vector<std::string> hooks_;
};

}  // namespace caisson::mech
