// Capabilities: the program starts with none, in all five sets. Allocation-free (child side).
#pragma once

#include "run/failure.hpp"

namespace caisson::mech {

// Empties the bounding and ambient sets, locks securebits so that uid 0 gains nothing on
// exec, then clears effective, permitted and inheritable. Needs CAP_SETPCAP until the end.
bool drop_all_capabilities(run::Failure& f);

// The first half of drop_all_capabilities: bounding and ambient sets emptied, securebits set
// and locked. Effective, permitted and inheritable are left for the second half.
bool restrict_capability_sets(run::Failure& f);

// Clears effective, permitted and inheritable only: for a process that never execs again
// (the sandbox's init), where the bounding and ambient sets have nothing left to guard.
bool drop_capabilities_without_exec(run::Failure& f);

// PR_SET_NO_NEW_PRIVS: setuid binaries and file capabilities grant nothing.
bool set_no_new_privs(run::Failure& f);

}  // namespace caisson::mech
