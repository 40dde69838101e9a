// A session keyring of the process's own, as runc and crun give each container: without one,
// a container's processes share the session keyring of whoever ran the runtime (a login
// shell's, the shim's), and with keyctl allowed by their filter one container reads or plants
// the keys of another, or of that caller.
#pragma once

#include "kernel/failure.hpp"

namespace caisson::mech {

// Joins (creating it if it does not exist) the session keyring `name`, or a new anonymous one
// with nullptr, that only its possessors may use. A kernel without keys (ENOSYS) is no error,
// nor is keyctl refused to this process where the caller's session keyring is out of reach
// as well (an outer filter, which the container's processes inherit): nothing to share.
bool join_session_keyring(const char* name, kernel::Failure& f);

}  // namespace caisson::mech
