// A session keyring of the process's own, as runc and crun give each container: without one,
// a container's processes share the session keyring of whoever ran the runtime (a login
// shell's, the shim's), and with keyctl allowed by their filter one container reads or plants
// the keys of another, or of that caller.
#pragma once

#include "kernel/failure.hpp"

namespace caisson::mech {

// Joins (creating it if it does not exist) the session keyring `name`, or a new anonymous one
// with nullptr. A kernel without keys (ENOSYS) is no error: there is nothing to share. Any
// other refusal (a filter of the caller's, EPERM) fails closed, naming --no-new-keyring.
bool join_session_keyring(const char* name, kernel::Failure& f);

}  // namespace caisson::mech
