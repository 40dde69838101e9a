// What to ask Landlock for, decided from the policy and the kernel's ABI version. Pure.
// Fail closed: a right the ABI cannot enforce is an error, unless the policy says best
// effort; then it is dropped and listed as not enforced.
#pragma once

#include <caisson/policy.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace caisson::landlock_rights {

struct PathRule {
    std::string path;
    uint64_t access = 0;  // narrowed to file rights in the child when the path is a file
};

struct PortRule {
    uint64_t port = 0;
    uint64_t access = 0;
};

struct Plan {
    uint64_t handled_fs = 0;
    uint64_t handled_net = 0;
    uint64_t scoped = 0;
    std::vector<PathRule> paths;
    std::vector<PortRule> ports;
    std::vector<std::string> enforced;      // for the report
    std::vector<std::string> not_enforced;  // best effort: what this kernel could not do
    // Something for the kernel to enforce (best effort may have dropped it all).
    bool enforces() const { return handled_fs || handled_net || scoped; }
};

// Throws caisson::Error (usage). `abi` is the kernel's Landlock version, 0 when absent.
Plan plan(const Landlock& policy, int abi);

}  // namespace caisson::landlock_rights
