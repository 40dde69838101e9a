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

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace caisson::cli {
namespace {

constexpr size_t kBuffer = 64 * 1024;

// One side: a descriptor, and whether this process may shut it down (the connection's own
// end, not a caller's socket, which shares its open file with the caller: it is put back
// as it was, never made non-blocking or shut).
struct Side {
    int fd;
    bool owned;
};

// One direction: what was read from `from` and not yet written to `to`. Every call on the
// outside socket says MSG_DONTWAIT instead of setting O_NONBLOCK on a file others hold.
struct Direction {
    Side from, to;
    char buf[kBuffer];
    size_t off = 0, len = 0;
    bool done = false;

    // `half`: the reader of `from` saw its end while the other side may still be there (an
    // explicit half-close), which the reader past `to` is told of. Otherwise (a side gone)
    // what is owned is shut, and a caller's socket left as it is.
    void end(bool half = false) {
        done = true;
        if (to.owned || half) (void)::shutdown(to.fd, SHUT_WR);  // the reader past `to` sees the end
        if (from.owned) (void)::shutdown(from.fd, SHUT_RD);      // the writer into `from` learns nobody reads
    }
    short wants() const { return done ? 0 : (len ? 0 : POLLIN); }
    short wants_out() const { return done || !len ? 0 : POLLOUT; }
    // `from_gone`: poll said its other end is gone altogether.
    void readable(bool from_gone) {
        ssize_t n = ::recv(from.fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) len = static_cast<size_t>(n), off = 0;
        else if (n == 0) end(!from_gone);
        else if (errno != EAGAIN && errno != EINTR) end();
    }
    void writable() {
        ssize_t n = ::send(to.fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) end();
            return;
        }
        off += static_cast<size_t>(n);
        if (off == len) off = len = 0;
    }
};

[[noreturn]] void relay(Side outside, Side inside) {
    Direction in{outside, inside, {}}, out{inside, outside, {}};
    const short gone = POLLERR | POLLHUP | POLLNVAL;
    bool outside_gone = false, inside_gone = false;
    while (!in.done || !out.done) {
        // Each descriptor once, with what both directions want of it; a side already gone
        // only when there is something to do with it (its condition would wake poll at once).
        const short on_outside = static_cast<short>(in.wants() | out.wants_out());
        const short on_inside = static_cast<short>(out.wants() | in.wants_out());
        pollfd p[2] = {{outside_gone && !on_outside ? -1 : outside.fd, on_outside, 0},
                       {inside_gone && !on_inside ? -1 : inside.fd, on_inside, 0}};
        if (::poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            ::_exit(1);
        }
        outside_gone |= (p[0].revents & gone) != 0;
        inside_gone |= (p[1].revents & gone) != 0;
        if (p[0].revents & (POLLIN | gone) && in.wants()) in.readable(outside_gone);
        if (p[1].revents & (POLLIN | gone) && out.wants()) out.readable(inside_gone);
        if (p[0].revents & (POLLOUT | gone) && out.wants_out()) out.writable();
        if (p[1].revents & (POLLOUT | gone) && in.wants_out()) in.writable();
        // A side that is gone (the peer reset; nothing holds the sandbox's end any more, the
        // sandbox being over) takes nothing more: the direction into it ends.
        if (outside_gone && !out.done && !out.len) out.end();
        if (inside_gone && !in.done && !in.len) in.end();
    }
    ::_exit(0);
}

}  // namespace

pid_t start_stream_relay(int outside, int inside, bool owns_outside) {
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid != 0) return pid;
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::getppid() != parent) ::_exit(1);
    // It holds a socket of the host's network: nothing of the sandbox's uid may take it
    // (pidfd_getfd, ptrace). The terminal's signals are for the session, which ends it.
    (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    (void)::signal(SIGINT, SIG_IGN);
    (void)::signal(SIGHUP, SIG_IGN);
    // Only the two: above all not the sandbox's end, whose last holder going is the end.
    const unsigned lo = static_cast<unsigned>(std::min(outside, inside));
    const unsigned hi = static_cast<unsigned>(std::max(outside, inside));
    if ((lo > 0 && ::close_range(0, lo - 1, 0) < 0) || (hi > lo + 1 && ::close_range(lo + 1, hi - 1, 0) < 0) ||
        ::close_range(hi + 1, ~0U, 0) < 0)
        ::_exit(1);
    (void)::fcntl(inside, F_SETFL, ::fcntl(inside, F_GETFL) | O_NONBLOCK);  // ours alone
    relay({outside, owns_outside}, {inside, true});
}

void finish_stream_relay(pid_t relay, int timeout_ms) {
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, relay, 0));
    if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        while (::poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {}
        if (!(p.revents & POLLIN)) (void)::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
        ::close(pidfd);
    } else {
        // No descriptor to wait on (EMFILE): the relay is our child, polled until the deadline.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        for (;;) {
            pid_t r = ::waitpid(relay, nullptr, WNOHANG);
            if (r == relay || (r < 0 && errno != EINTR)) return;
            if (std::chrono::steady_clock::now() >= deadline) break;
            pollfd none{-1, 0, 0};
            (void)::poll(&none, 1, 10);
        }
        (void)::kill(relay, SIGKILL);
    }
    while (::waitpid(relay, nullptr, 0) < 0 && errno == EINTR) {}
}

bool network_is_confined(const Policy& p) {
    // Its own namespace; or the host's, with rules the kernel keys on the socket's cgroup
    // (the egress programs, the BPF LSM's connect ports), which a socket made outside the
    // sandbox's cgroup is not in.
    return p.namespaces.net || !p.namespaces.net_path.empty() || p.egress.enabled() || !p.bpf_lsm.connect_ports.empty();
}

namespace {

const char* stdio_name(int fd) { return fd == 0 ? "stdin" : fd == 1 ? "stdout" : "stderr"; }

}  // namespace

StdioRelay::StdioRelay(bool confined, const std::vector<int>& pass_fds) {
    if (!confined) return;
    // First what each of 0, 1 and 2 is, refusing before anything is started.
    struct Socket {
        int fd;
        dev_t dev;
        ino_t ino;
    };
    std::vector<Socket> tcp;
    for (int fd = 0; fd < 3; ++fd) {
        struct stat st{};
        if (::fstat(fd, &st) < 0) {
            if (errno == EBADF) continue;
            throw Error(ErrorKind::Setup, "fstat", stdio_name(fd), errno);
        }
        if (!S_ISSOCK(st.st_mode)) continue;
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
                           " of the caller's network: the program could reach that network from it, past its own "
                           "network rules; give a stream or a connection, serve connections with caisson listen, or "
                           "share the caller's network without rules (--share-net)");
    }
    // The copies of the sockets go above every --pass-fd, which must not land on one.
    int above = 3;
    for (int fd : pass_fds) above = std::max(above, fd + 1);
    // Then a relay per connection (inetd gives the same one as 0, 1 and often 2). Whatever
    // fails puts back what was done.
    std::vector<std::pair<size_t, int>> inside_of;  // index into tcp of a socket's first fd, its pair's end
    try {
        for (size_t i = 0; i < tcp.size(); ++i) {
            int inside = -1;
            for (auto [first, end] : inside_of)
                if (tcp[first].dev == tcp[i].dev && tcp[first].ino == tcp[i].ino) inside = end;
            if (inside < 0) {
                int pair[2];
                if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) throw Error(ErrorKind::Setup, "socketpair", "stdio relay", errno);
                pid_t relay = start_stream_relay(tcp[i].fd, pair[0], /*owns_outside=*/false);
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
            int original = ::fcntl(fd, F_DUPFD_CLOEXEC, above);
            if (original < 0) throw Error(ErrorKind::Setup, "dup", std::string("stdio relay for ") + stdio_name(fd), errno);
            replaced_.push_back({fd, original});
            if (::dup2(inside, fd) < 0) throw Error(ErrorKind::Setup, "dup2", std::string("stdio relay for ") + stdio_name(fd), errno);
        }
    } catch (...) {
        for (auto [first, end] : inside_of) ::close(end);
        put_back();
        throw;
    }
    for (auto [first, end] : inside_of) ::close(end);
}

void StdioRelay::put_back() noexcept {
    // Our copies of the sandbox's ends go (the socket is put back), so the relays see the
    // end once the sandbox's are gone too, and carry out what they hold.
    for (const Replaced& r : replaced_)
        while (::dup2(r.original, r.fd) < 0 && errno == EINTR) {}
    for (pid_t relay : relays_) finish_stream_relay(relay, 10000);
    for (const Replaced& r : replaced_) ::close(r.original);
    replaced_.clear();
    relays_.clear();
}

StdioRelay::~StdioRelay() { put_back(); }

}  // namespace caisson::cli
