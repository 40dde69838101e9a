// cgroup v2 has no devices controller: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE,
// attached to the sandbox's cgroup, decides each open and mknod of a device node. Built
// here instruction by instruction from the ordered rule list (the last matching rule wins,
// as with v1's devices.allow and devices.deny; nothing matching is denied).
#pragma once

#include <caisson/policy.hpp>

#include <linux/bpf.h>

#include <vector>

namespace caisson::mech {

// Pure: the program for `rules`.
std::vector<bpf_insn> device_program(const std::vector<DeviceRule>& rules);

// Loads the program and attaches it to the cgroup directory `cgroup_fd`. Throws
// caisson::Error naming the step and errno (with the verifier's log on a load failure).
void attach_device_filter(int cgroup_fd, const std::vector<DeviceRule>& rules);

}  // namespace caisson::mech
