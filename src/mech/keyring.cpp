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
    // What refuses this process keyctl (a filter, an LSM) refuses the container's processes,
    // which inherit it, just the same: there is nothing they could share then.
    if (id < 0) return errno == ENOSYS || errno == EPERM || errno == EACCES ? true
                                                                            : f.set("keyctl JOIN_SESSION_KEYRING", "a session keyring of the process's own");
    // Its possessors may do anything with it; another process of the same uid may only see
    // that it exists (not read it, search it, or link it into a keyring of its own).
    if (::syscall(SYS_keyctl, KEYCTL_SETPERM, id, kPossessorAllUserView, 0, 0) < 0)
        return f.set("keyctl SETPERM", "the session keyring");
    return true;
}

}  // namespace caisson::mech
