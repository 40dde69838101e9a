// Capabilities: the program starts with none in all five sets, or with exactly the ones the
// policy keeps (--cap-add). Allocation-free (child side).
#pragma once

#include "kernel/failure.hpp"

#include <cstdint>

namespace caisson::mech {

// Bounding set reduced to `keep` (a bit per CAP_*), ambient set emptied, securebits set and
// locked so that uid 0 gains nothing on exec. Needs CAP_SETPCAP: the first half.
bool restrict_capability_sets(uint64_t keep, kernel::Failure& f);

// The second half: effective, permitted and inheritable become `keep`, and each kept
// capability is raised in the ambient set, which is how it survives exec (for any uid:
// with SECBIT_NOROOT even uid 0 gets nothing from exec otherwise).
bool set_kept_capabilities(uint64_t keep, kernel::Failure& f);

// Clears effective, permitted and inheritable only: for a process that never execs again
// (the sandbox's init), where the bounding and ambient sets have nothing left to guard.
bool drop_capabilities_without_exec(kernel::Failure& f);

// PR_SET_NO_NEW_PRIVS: setuid binaries and file capabilities grant nothing.
bool set_no_new_privs(kernel::Failure& f);

}  // namespace caisson::mech
