// One seccomp user-notification round trip: a child's getppid() goes to a listener, which
// answers CONTINUE; µs per call, with and without SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
// (Linux 6.6: the listener is woken on the caller's CPU), against a plain getppid().
// Medians of R rounds. This is the cost every decision of a stateful supervisor pays.
//   notify_roundtrip [CALLS] [ROUNDS]
#include "filter/seccomp_compiler.hpp"

#include <caisson/seccomp.hpp>

#include "kernel/syscalls.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>


namespace {

int send_fd(int sock, int fd) {
    char dummy = 0;
    iovec iov{&dummy, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return static_cast<int>(::sendmsg(sock, &msg, 0));
}

int recv_fd(int sock) {
    char dummy;
    iovec iov{&dummy, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (::recvmsg(sock, &msg, 0) <= 0) return -1;
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
    return fd;
}

// µs per getppid() in a child; with `notify`, getppid goes through a listener here, read
// by a blocking RECV, or (`polled`) after a poll(2) on the listener, as a supervisor that
// waits on several descriptors must.
double measure(long calls, bool notify, bool sync_wakeup, bool polled = false) {
    int sv[2], res[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || ::pipe(res) < 0) std::abort();
    pid_t pid = ::fork();
    if (pid == 0) {
        if (notify) {
            caisson::seccomp::Policy p;
            p.mode = caisson::seccomp::Mode::Filter;
            p.default_action = {caisson::seccomp::ActionKind::Allow, 0};
            caisson::seccomp::Rule r;
            r.syscalls = {"getppid"};
            r.action = {caisson::seccomp::ActionKind::Notify, 0};
            p.rules.push_back(r);
            auto prog = caisson::filter::compile(p).program;
            sock_fprog fp{static_cast<unsigned short>(prog.size()), prog.data()};
            ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            long fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
            if (fd < 0 || send_fd(sv[0], static_cast<int>(fd)) < 0) ::_exit(1);
            ::close(static_cast<int>(fd));
        }
        for (long i = 0; i < calls / 10; ++i) ::syscall(SYS_getppid);
        auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < calls; ++i) ::syscall(SYS_getppid);
        double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / calls;
        (void)!::write(res[1], &us, sizeof(us));
        ::_exit(0);
    }
    ::close(res[1]);
    if (notify) {
        int listener = recv_fd(sv[1]);
        if (listener < 0) std::abort();
        if (sync_wakeup) (void)::ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0);
        for (;;) {
            seccomp_notif n{};
            if (polled) {
                pollfd p{listener, POLLIN, 0};
                if (::poll(&p, 1, -1) < 0 || (p.revents & (POLLHUP | POLLERR))) break;
            }
            if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0) break;  // the child is gone
            seccomp_notif_resp resp{};
            resp.id = n.id;
            resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            (void)::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
            if (n.data.nr != SYS_getppid) continue;
        }
        ::close(listener);
    }
    double us = -1;
    if (::read(res[0], &us, sizeof(us)) != sizeof(us)) us = -1;
    ::close(res[0]);
    ::close(sv[0]);
    ::close(sv[1]);
    ::waitpid(pid, nullptr, 0);
    return us;
}

}  // namespace

int main(int argc, char** argv) {
    long calls = argc > 1 ? std::atol(argv[1]) : 20000;
    int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
    std::vector<double> plain, notify, sync, polled;
    for (int r = 0; r < rounds; ++r) {
        plain.push_back(measure(calls * 10, false, false));
        notify.push_back(measure(calls, true, false));
        sync.push_back(measure(calls, true, true));
        polled.push_back(measure(calls, true, true, true));
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    std::printf("seccomp notification round trip, getppid(), %ld calls per run, median of %d runs\n", calls, rounds);
    std::printf("%-44s %10s\n", "", "us/call");
    std::printf("%-44s %10.3f\n", "plain getppid()", median(plain));
    std::printf("%-44s %10.3f\n", "through a listener answering CONTINUE", median(notify));
    std::printf("%-44s %10.3f\n", "the same with SYNC_WAKE_UP (Linux 6.6)", median(sync));
    std::printf("%-44s %10.3f\n", "the same, each waited for by poll(2) first", median(polled));
}
