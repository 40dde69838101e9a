// Landlock in the program's process, after no_new_privs and before seccomp.
#pragma once

#include "policy/landlock_rights.hpp"
#include "kernel/failure.hpp"

namespace caisson::mech {

// The kernel's Landlock ABI version, 0 when it has none.
int landlock_abi();

// Opens each path (inside the sandbox, after pivot_root), adds the rules and restricts the
// calling process. Allocation-free.
bool apply_landlock(const landlock_rights::Plan& plan, kernel::Failure& f);

}  // namespace caisson::mech
