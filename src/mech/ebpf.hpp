// The bpf(2) calls caisson needs for its own cgroup programs: load (with the verifier's
// complaint in the error), attach to a cgroup, and array maps. Throws caisson::Error.
#pragma once

#include "kernel/fd.hpp"

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

namespace caisson::mech {

kernel::Fd load_bpf_program(bpf_prog_type type, bpf_attach_type expected, const std::vector<bpf_insn>& insns,
                        const char* name, const std::string& what);
void attach_bpf_program(int cgroup_fd, int prog_fd, bpf_attach_type type, uint32_t flags, const std::string& what);
kernel::Fd create_bpf_array(uint32_t value_size, uint32_t entries, const char* name);
// False when the entry cannot be read.
bool bpf_lookup(int map_fd, uint32_t key, void* value);

}  // namespace caisson::mech
