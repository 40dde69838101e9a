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

ParentWatch::ParentWatch(bool wanted) {
    if (!wanted) return;
    const pid_t parent = ::getppid();
    if (parent > 0) {
        pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, parent, 0)));
        if (!pidfd_) throw Error(ErrorKind::Setup, "--die-with-parent: pidfd_open", "pid " + std::to_string(parent), errno);
    } else {
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) throw Error(ErrorKind::Setup, "prctl", "PR_SET_PDEATHSIG", errno);
        by_signal_ = true;
    }
    // The parent may have died before either took effect (its pid then another's).
    if (::getppid() != parent) {
        if (by_signal_) (void)::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
        throw Error(ErrorKind::Setup, "--die-with-parent", "parent already gone", ESRCH);
    }
}

ParentWatch::~ParentWatch() {
    // A library caller's thread goes on after the run: the signal was the run's, not its.
    if (by_signal_) (void)::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
}

bool ParentWatch::ended() const {
    if (!pidfd_) return false;
    pollfd p{pidfd_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

}  // namespace caisson::mech
