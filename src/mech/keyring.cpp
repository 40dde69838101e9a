#include "mech/keyring.hpp"

#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {

bool join_session_keyring(const char* name, kernel::Failure& f) {
    if (::syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name, 0, 0, 0) >= 0 || errno == ENOSYS) return true;
    return f.set("keyctl JOIN_SESSION_KEYRING", "a session keyring of the container's own (--no-new-keyring keeps the caller's)");
}

}  // namespace caisson::mech
