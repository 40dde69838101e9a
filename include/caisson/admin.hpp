// Looking after sandboxes from outside: what killed supervisors left behind, and freezing a
// running sandbox. `caisson gc`, `caisson freeze`, `caisson thaw` and `caisson listen` use it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace caisson {

// Removes the cgroups under `cgroup_parent` whose supervisor is gone and, with `network`,
// the veth leases, bridges and NAT tables of theirs (through caisson-net). Returns what was
// removed, one line each. Throws caisson::Error.
std::vector<std::string> collect_leftovers(const std::string& cgroup_parent, bool network);

// Freezes (or thaws) every process of the sandbox whose supervisor is `supervisor`, at once,
// through its cgroup's freezer. Throws caisson::Error.
void set_frozen(pid_t supervisor, const std::string& cgroup_parent, bool frozen);

}  // namespace caisson
