#include "mech/monitor_line.hpp"

#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {

bool write_line_unblocked(int fd, const std::string& line) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT)) return false;
    // SIGPIPE held back for this write, and taken away if the write raised it (unless it was
    // pending before, which is not ours to take).
    sigset_t pipe_only, old, pending;
    ::sigemptyset(&pending);  // if sigpending is refused (a filter), nothing is taken as pending
    ::sigemptyset(&pipe_only);
    ::sigaddset(&pipe_only, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    ::sigpending(&pending);
    const bool was_pending = ::sigismember(&pending, SIGPIPE);
    ssize_t n = ::write(fd, line.data(), line.size());
    if (n < 0 && errno == EPIPE && !was_pending) {
        timespec zero{0, 0};
        (void)::sigtimedwait(&pipe_only, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return n == static_cast<ssize_t>(line.size());
}

}  // namespace caisson::mech
