// How the policy's ceilings are held in one run: by the sandbox's cgroup, or by rlimits
// where there is none, or by the sandbox's user namespace's own counts. Pure: decided from
// the policy and from what the launcher could have, nothing is touched.
#pragma once

#include <caisson/policy.hpp>

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace caisson::ceilings {

struct Plan {
    Resources resources;         // the policy's, with the ceilings the cgroup holds
    std::vector<Rlimit> rlimits; // the policy's, with the ceilings rlimits hold
    // /proc/sys/user/max_* of the sandbox's user namespace, written by its init.
    std::vector<std::pair<std::string, uint64_t>> userns_limits;
    std::vector<std::string> held;  // for the report: "pids 1024 (cgroup pids.max)", ...
};

// Whether a cgroup would hold a ceiling: processes or memory are limited, and the policy
// does not already limit them itself.
bool want_cgroup(const Policy& p);

// `controllers`: those the sandbox's cgroup can have (none: it has no cgroup).
// `own_userns`: the sandbox has a user namespace of its own (RLIMIT_NPROC counts the
// sandbox alone only then, and the inotify counts exist only then).
Plan plan(const Policy& p, const std::set<std::string>& controllers, bool own_userns);

}  // namespace caisson::ceilings
