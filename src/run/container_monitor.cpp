#include "run/container_monitor.hpp"

#include "kernel/failure.hpp"
#include "mech/fd_passing.hpp"
#include "mech/fds.hpp"
#include "mech/unix_socket.hpp"
#include "run/seccomp_monitor.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string_view>
#include <csignal>
#include <vector>

namespace caisson::run {
namespace {

// More processes than this waiting to hand over a listener at once is not a container's
// normal life; the rest wait in the socket's backlog.
constexpr size_t kMaxPending = 64;

void kill_init(int init_pidfd) { (void)::syscall(SYS_pidfd_send_signal, init_pidfd, SIGKILL, nullptr, 0); }

// Only the runtime's own user hands over listeners, and only seccomp listeners are taken.
bool is_seccomp_listener(int fd) {
    char path[32], target[64] = {};
    std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = ::readlink(path, target, sizeof(target) - 1);
    return n > 0 && std::string_view(target, static_cast<size_t>(n)) == "anon_inode:seccomp notify";
}

[[noreturn]] void monitor_loop(const MonitorPlan& plan, int listening, int init_pidfd) {
    SeccompMonitor monitor(plan.truth, plan.supervised, -1);
    monitor.program_started();  // the filter goes in after caisson's own steps: nothing to let pass
    Outcome out;                // what the monitor saw; nobody reads it, the decisions are what count
    std::vector<kernel::Fd> pending, listeners;
    for (;;) {
        const short accepting = pending.size() < kMaxPending ? POLLIN : 0;
        std::vector<pollfd> fds{{init_pidfd, POLLIN, 0}, {listening, accepting, 0}};
        for (const auto& c : pending) fds.push_back({c.get(), POLLIN, 0});
        for (const auto& l : listeners) fds.push_back({l.get(), POLLIN, 0});
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            kill_init(init_pidfd);  // fail closed: nobody would decide the supervised calls
            ::_exit(1);
        }
        if (fds[0].revents) ::_exit(0);  // the init has exited: the container is over
        std::vector<kernel::Fd> still_pending, still_listening;
        size_t i = 2;
        for (auto& c : pending) {
            short ev = fds[i++].revents;
            if (!ev) {
                still_pending.push_back(std::move(c));
                continue;
            }
            char byte;
            int fd = -1;
            size_t n = 1;
            // One message, one listener; then the connection has served its purpose.
            if (mech::recv_with_fds(c.get(), &byte, 1, &fd, &n) > 0 && n == 1) {
                kernel::Fd got(fd);
                if (mech::peer_uid(c.get()) == static_cast<long>(::geteuid()) && is_seccomp_listener(got.get())) still_listening.push_back(std::move(got));
            }
        }
        for (auto& l : listeners) {
            short ev = fds[i++].revents;
            if (ev & POLLIN) {
                NotifyVerdict v = NotifyVerdict::None;
                try {
                    errno = 0;
                    v = monitor.handle(l.get(), out);
                    if (v == NotifyVerdict::Kill) kill_init(init_pidfd);
                } catch (...) {
                    kill_init(init_pidfd);
                    ::_exit(1);
                }
                // Nothing read, and not because the caller went: a listener that fails keeps
                // polling readable, so it is dropped (its calls then fail with ENOSYS).
                if (v == NotifyVerdict::None && errno != ENOENT && errno != EINTR) continue;
                still_listening.push_back(std::move(l));
            } else if (!ev) {
                still_listening.push_back(std::move(l));
            }
            // POLLHUP alone: no process uses that filter any more.
        }
        pending = std::move(still_pending);
        listeners = std::move(still_listening);
        if (fds[1].revents & POLLIN) {
            int c = ::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) pending.emplace_back(c);
        }
    }
}

}  // namespace

MonitorSocket open_monitor_socket(const std::string& path) {
    MonitorSocket s;
    s.listening = mech::listen_unix(path, "listen on the monitor's socket");
    if (::chmod(path.c_str(), 0600) < 0) throw Error(ErrorKind::Setup, "chmod", path, errno);
    s.init_end = mech::connect_unix(path, "connect to the monitor's socket");
    return s;
}

pid_t start_container_monitor(const MonitorPlan& plan, MonitorSocket& socket, int init_pidfd) {
    kernel::Fd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null) throw Error(ErrorKind::Setup, "open", "/dev/null", errno);
    pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorKind::Setup, "fork", "container monitor", errno);
    if (pid == 0) {
        // Outside the container, holding nothing of the runtime's caller: not its terminal,
        // not its pipes (a caller waiting for create's output would wait for this process).
        kernel::Failure f;
        if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || ::setsid() < 0) ::_exit(1);
        for (int fd = 0; fd < 3; ++fd)
            if (::dup2(null.get(), fd) < 0) ::_exit(1);
        std::vector<int> hold = plan.hold_fds;
        std::sort(hold.begin(), hold.end());
        if (!mech::close_fds_except(hold, {socket.listening.get(), init_pidfd}, f)) ::_exit(1);
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        // Only SIGKILL ends it before the init: a stray signal must not drop the protections
        // it holds (the container's own processes cannot signal it: another pid namespace).
        for (int sig : {SIGINT, SIGHUP, SIGPIPE, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM}) ::signal(sig, SIG_IGN);
        monitor_loop(plan, socket.listening.get(), init_pidfd);
    }
    socket.listening.reset();
    return pid;
}

bool send_to_monitor(int monitor_fd, int listener) {
    const char byte = 'L';
    bool ok = mech::send_with_fds(monitor_fd, &byte, 1, &listener, 1);
    int err = errno;
    ::close(listener);
    ::close(monitor_fd);
    errno = err;
    return ok;
}

}  // namespace caisson::run
