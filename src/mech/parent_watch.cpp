#include "mech/parent_watch.hpp"

#include <caisson/error.hpp>

#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>

namespace caisson::mech {

kernel::Fd watch_parent() {
    const pid_t parent = ::getppid();
    kernel::Fd pidfd;
    if (parent > 0) {
        pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, parent, 0)));
        if (!pidfd) throw Error(ErrorKind::Setup, "--die-with-parent: pidfd_open", "pid " + std::to_string(parent), errno);
    } else if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
        throw Error(ErrorKind::Setup, "prctl", "PR_SET_PDEATHSIG", errno);
    }
    // The parent may have died before either took effect (its pid then another's).
    if (::getppid() != parent) throw Error(ErrorKind::Setup, "--die-with-parent", "parent already gone", ESRCH);
    return pidfd;
}

bool parent_ended(int pidfd) {
    if (pidfd < 0) return false;
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

}  // namespace caisson::mech
