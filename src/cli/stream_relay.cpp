#include "cli/stream_relay.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <utility>

namespace caisson::cli {
namespace {

constexpr size_t kBuffer = 64 * 1024;

// One direction: what was read from `from` and not yet written to `to`.
struct Direction {
    int from, to;
    char buf[kBuffer];
    size_t off = 0, len = 0;
    bool done = false;

    void end() {
        done = true;
        (void)::shutdown(to, SHUT_WR);    // the reader past `to` sees the end
        (void)::shutdown(from, SHUT_RD);  // and the writer into `from` learns nobody reads
    }
    short wants() const { return done ? 0 : (len ? 0 : POLLIN); }
    short wants_out() const { return done || !len ? 0 : POLLOUT; }
    void readable() {
        ssize_t n = ::read(from, buf, sizeof(buf));
        if (n > 0) len = static_cast<size_t>(n), off = 0;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR)) end();
    }
    void writable() {
        ssize_t n = ::send(to, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) end();
            return;
        }
        off += static_cast<size_t>(n);
        if (off == len) off = len = 0;
    }
};

[[noreturn]] void relay(int outside, int inside) {
    Direction in{outside, inside, {}}, out{inside, outside, {}};
    (void)::fcntl(outside, F_SETFL, ::fcntl(outside, F_GETFL) | O_NONBLOCK);
    (void)::fcntl(inside, F_SETFL, ::fcntl(inside, F_GETFL) | O_NONBLOCK);
    const short gone = POLLERR | POLLHUP | POLLNVAL;
    bool outside_gone = false, inside_gone = false;
    while (!in.done || !out.done) {
        // Each descriptor once, with what both directions want of it; a side already gone
        // only when there is something to do with it (its condition would wake poll at once).
        const short on_outside = static_cast<short>(in.wants() | out.wants_out());
        const short on_inside = static_cast<short>(out.wants() | in.wants_out());
        pollfd p[2] = {{outside_gone && !on_outside ? -1 : outside, on_outside, 0},
                       {inside_gone && !on_inside ? -1 : inside, on_inside, 0}};
        if (::poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            ::_exit(1);
        }
        if (p[0].revents & (POLLIN | gone) && in.wants()) in.readable();
        if (p[1].revents & (POLLIN | gone) && out.wants()) out.readable();
        if (p[0].revents & (POLLOUT | gone) && out.wants_out()) out.writable();
        if (p[1].revents & (POLLOUT | gone) && in.wants_out()) in.writable();
        // A side that is gone (the peer reset; nothing holds the sandbox's end any more, the
        // sandbox being over) takes nothing more: the direction into it ends.
        outside_gone |= (p[0].revents & gone) != 0;
        inside_gone |= (p[1].revents & gone) != 0;
        if (outside_gone && !out.done && !out.len) out.end();
        if (inside_gone && !in.done && !in.len) in.end();
    }
    ::_exit(0);
}

}  // namespace

pid_t start_stream_relay(int outside, int inside) {
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid != 0) return pid;
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::getppid() != parent) ::_exit(1);
    // Only the two: above all not the sandbox's end, whose last holder going is the end.
    const unsigned lo = static_cast<unsigned>(outside < inside ? outside : inside);
    const unsigned hi = static_cast<unsigned>(outside < inside ? inside : outside);
    if ((lo > 0 && ::close_range(0, lo - 1, 0) < 0) || (hi > lo + 1 && ::close_range(lo + 1, hi - 1, 0) < 0) ||
        ::close_range(hi + 1, ~0U, 0) < 0)
        ::_exit(1);
    relay(outside, inside);
}

void finish_stream_relay(pid_t relay, int timeout_ms) {
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, relay, 0));
    if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        while (::poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {}
        if (!(p.revents & POLLIN)) (void)::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
        ::close(pidfd);
    } else {
        (void)::kill(relay, SIGKILL);
    }
    while (::waitpid(relay, nullptr, 0) < 0 && errno == EINTR) {}
}

}  // namespace caisson::cli

namespace caisson::cli {
namespace {

const char* stdio_name(int fd) { return fd == 0 ? "stdin" : fd == 1 ? "stdout" : "stderr"; }

}  // namespace

StdioRelay::StdioRelay(bool own_network) {
    if (!own_network) return;
    // First what each of 0, 1 and 2 is, refusing before anything is started.
    struct Socket {
        int fd;
        dev_t dev;
        ino_t ino;
    };
    std::vector<Socket> tcp;
    for (int fd = 0; fd < 3; ++fd) {
        struct stat st{};
        if (::fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) continue;
        int domain = 0, type = 0, listening = 0;
        socklen_t len = sizeof(int);
        if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) throw Error(ErrorKind::Setup, "SO_DOMAIN", stdio_name(fd), errno);
        len = sizeof(int);
        if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) throw Error(ErrorKind::Setup, "SO_TYPE", stdio_name(fd), errno);
        len = sizeof(int);
        if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) throw Error(ErrorKind::Setup, "SO_ACCEPTCONN", stdio_name(fd), errno);
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof(peer);
        const bool connected = ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0;
        const bool inet = domain == AF_INET || domain == AF_INET6;
        // A connected or listening AF_UNIX stream reaches nothing else: connect on it fails.
        if (domain == AF_UNIX && type != SOCK_DGRAM && (connected || listening)) continue;
        if (inet && type == SOCK_STREAM && connected && !listening) {
            tcp.push_back({fd, st.st_dev, st.st_ino});
            continue;
        }
        const std::string kind = domain == AF_UNIX ? "an AF_UNIX datagram or unconnected socket"
                                 : inet            ? (listening ? "a listening TCP socket" : type == SOCK_STREAM ? "an unconnected TCP socket" : "a UDP or raw socket")
                                                   : "a socket of family " + std::to_string(domain);
        throw Error::usage(std::string("caisson run: ") + stdio_name(fd) + " is " + kind +
                           " of the caller's network namespace: the program could reach that network from it, whatever "
                           "its own; give a stream or a connection, serve connections with caisson listen, or run with --share-net");
    }
    // Then a relay per connection (inetd gives the same one as 0, 1 and often 2).
    std::vector<std::pair<size_t, int>> inside_of;  // index into tcp of the first fd of a socket, its pair's end
    for (size_t i = 0; i < tcp.size(); ++i) {
        int inside = -1;
        for (auto [first, end] : inside_of)
            if (tcp[first].dev == tcp[i].dev && tcp[first].ino == tcp[i].ino) inside = end;
        if (inside < 0) {
            int pair[2];
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) throw Error(ErrorKind::Setup, "socketpair", "stdio relay", errno);
            pid_t relay = start_stream_relay(tcp[i].fd, pair[0]);
            const int err = errno;
            ::close(pair[0]);
            if (relay < 0) {
                ::close(pair[1]);
                throw Error(ErrorKind::Setup, "fork", "stdio relay", err);
            }
            relays_.push_back(relay);
            inside_of.emplace_back(i, pair[1]);
            inside = pair[1];
        }
        const int fd = tcp[i].fd;
        int original = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (original < 0) throw Error(ErrorKind::Setup, "dup", std::string("stdio relay for ") + stdio_name(fd), errno);
        replaced_.push_back({fd, original});
        if (::dup2(inside, fd) < 0) throw Error(ErrorKind::Setup, "dup2", std::string("stdio relay for ") + stdio_name(fd), errno);
    }
    for (auto [first, end] : inside_of) ::close(end);
}

StdioRelay::~StdioRelay() {
    // Our copies of the sandbox's ends go (the socket is put back), so the relays see the
    // end once the sandbox's are gone too, and carry out what they hold.
    for (const Replaced& r : replaced_) (void)::dup2(r.original, r.fd);
    for (pid_t relay : relays_) finish_stream_relay(relay, 10000);
    for (const Replaced& r : replaced_) ::close(r.original);
}

}  // namespace caisson::cli
