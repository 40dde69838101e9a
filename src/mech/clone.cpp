#include "mech/clone.hpp"

#include "kernel/syscalls.hpp"

#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {

bool clone_process(const CloneRequest& r, Cloned& out) {
    out = Cloned{};
    clone_args args{};
    args.flags = r.flags | (r.want_pidfd ? CLONE_PIDFD : 0);
    args.pidfd = reinterpret_cast<uint64_t>(&out.pidfd);
    args.exit_signal = static_cast<uint64_t>(r.exit_signal);
    if (r.cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = static_cast<uint64_t>(r.cgroup_fd);
    }
    out.into_cgroup = r.cgroup_fd >= 0;
    if (r.plain_clone) {
        out.pid = -1;
        errno = ENOSYS;
    } else {
        out.pid = kernel::clone3(&args);
    }
    if (out.pid < 0 && errno == ENOSYS) {
        uint64_t flags = args.flags & ~static_cast<uint64_t>(CLONE_INTO_CGROUP);
        if (r.cgroup_fd >= 0 && (flags & CLONE_NEWCGROUP)) {
            flags &= ~static_cast<uint64_t>(CLONE_NEWCGROUP);
            out.cgroupns_after_join = true;
        }
        out.into_cgroup = false;
        // clone(2) begins with flags, stack and parent_tid (where CLONE_PIDFD stores the
        // pidfd) on every architecture; a null stack is the copy's own.
        out.pid = ::syscall(SYS_clone, flags | static_cast<uint64_t>(r.exit_signal), 0, &out.pidfd, 0, 0);
    }
    if (out.pid < 0) {
        out.into_cgroup = false;
        return false;
    }
    return true;
}

int clone_quiet(int (*body)(void*), void* arg) {
    sigset_t all, before;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &before);
    CloneRequest request;
    request.exit_signal = 0;
    Cloned child;
    const bool made = clone_process(request, child);
    if (made && child.pid == 0) ::_exit(body(arg));
    const int err = errno;
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    errno = err;
    return made ? child.pidfd : -1;
}

int wait_quiet(int pidfd) {
    siginfo_t info{};
    int r;
    while ((r = ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | __WALL)) < 0 && errno == EINTR) {
    }
    const int err = errno;
    ::close(pidfd);
    if (r < 0) return errno = err, -1;
    if (info.si_code != CLD_EXITED) return errno = EIO, -1;
    return info.si_status;
}

}  // namespace caisson::mech
