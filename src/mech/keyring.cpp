#include "mech/keyring.hpp"

#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {

namespace {
// KEY_POS_ALL (0x3f000000) | KEY_USR_VIEW (0x00010000), as <keyutils.h> names them.
constexpr unsigned long kPossessorAllUserView = 0x3f010000;
}  // namespace

bool join_session_keyring(const char* name, kernel::Failure& f) {
    const long id = ::syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name, 0, 0, 0);
    if (id < 0) {
        const int err = errno;
        if (err == ENOSYS) return true;
        // Refused (an outer filter, an LSM): fine only where the caller's session keyring is out
        // of reach too, as a filter refusing keyctl outright leaves it to the container's
        // processes, which inherit that filter. A refusal of the join alone is not.
        if ((err == EPERM || err == EACCES) &&
            ::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0) < 0)
            return true;
        return f.set("keyctl JOIN_SESSION_KEYRING", "a session keyring of the process's own (--no-new-keyring keeps the caller's)", err);
    }
    // Its possessors may do anything with it; another process of the same uid may only see
    // that it exists (not read it, search it, or link it into a keyring of its own).
    if (::syscall(SYS_keyctl, KEYCTL_SETPERM, id, kPossessorAllUserView, 0, 0) < 0)
        return f.set("keyctl SETPERM", "the session keyring");
    return true;
}

}  // namespace caisson::mech
