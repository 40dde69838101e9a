#include "run/notify_thread.hpp"

#include <caisson/error.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace caisson::run {

bool notify_thread_usable() {
    // "seccomp: interrupt SECCOMP_IOCTL_NOTIF_RECV when all users have exited" (6.11): before
    // it, a thread waiting in RECV for a sandbox that has ended waits for good.
    utsname u{};
    int major = 0, minor = 0;
    if (::uname(&u) < 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
    return major > 6 || (major == 6 && minor >= 11);
}

NotifyThread::NotifyThread(SeccompMonitor& monitor, int listener, int init_pidfd)
    : monitor_(monitor), listener_(listener), init_pidfd_(init_pidfd), kill_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!kill_) throw Error(ErrorKind::Setup, "eventfd", "the notification thread", errno);
    // No signal is for this thread: the supervisor's are read from its signalfd, and one
    // taken here would interrupt RECV for nothing.
    sigset_t all, old;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
        thread_ = std::thread([this] { loop(); });
    } catch (const std::system_error& e) {
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw Error(ErrorKind::Setup, "start the notification thread", "the supervisor", e.code().value());
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

NotifyThread::~NotifyThread() {
    if (!thread_.joinable()) return;
    // Left before the sandbox ended (the supervisor is unwinding an error): the sandbox goes,
    // and with its last process the thread's wait.
    (void)::syscall(SYS_pidfd_send_signal, init_pidfd_, SIGKILL, nullptr, 0);
    thread_.join();
}

void NotifyThread::loop() {
    auto stop_the_sandbox = [&] { (void)::eventfd_write(kill_.get(), 1); };
    for (;;) {
        NotifyVerdict v = NotifyVerdict::None;
        try {
            v = monitor_.handle(listener_, record_);
        } catch (...) {
            // Nobody would decide the calls that follow: the sandbox ends (fail closed), and
            // the supervisor reports why.
            error_ = std::current_exception();
            stop_the_sandbox();
            return;
        }
        if (v == NotifyVerdict::Kill) {
            // As the kernel's own kill-process would: no other call of the sandbox's is
            // decided after it. Init is PID 1 of the sandbox's namespace, which goes with it;
            // the supervisor kills the cgroup too. The calls still waiting get no answer.
            (void)::syscall(SYS_pidfd_send_signal, init_pidfd_, SIGKILL, nullptr, 0);
            stop_the_sandbox();
            pollfd gone{listener_, 0, 0};
            while (::poll(&gone, 1, -1) < 0 && errno == EINTR) {
            }
            return;
        }
        if (v != NotifyVerdict::None) continue;
        const int err = errno;
        if (err == EINTR) continue;
        // ENOENT: the caller went between the wake-up and the read, or no process uses the
        // filter any more, which the listener then says as POLLHUP.
        pollfd p{listener_, POLLIN, 0};
        if (err == ENOENT && !(::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))) continue;
        if (err != ENOENT) {
            error_ = std::make_exception_ptr(Error(ErrorKind::Setup, "seccomp notification", "receive", err));
            stop_the_sandbox();
        }
        return;
    }
}

void NotifyThread::finish(Outcome& out) {
    if (thread_.joinable()) thread_.join();
    add_record(out, std::move(record_));
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace caisson::run
