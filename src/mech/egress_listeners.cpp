#include "mech/egress_listeners.hpp"

#include "kernel/syscalls.hpp"
#include "mech/fd_passing.hpp"

#include <caisson/error.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

namespace caisson::mech {
namespace {

// What the child reports: a step that failed, with errno, or a descriptor (kind, index).
struct Note {
    char step[96];
    int err;
    int kind;  // 0: failure, 1: dns4, 2: dns6, 3: tcp (index in `index`), 4: done
    uint32_t index;
};

struct in6_ifreq_compat {  // <linux/ipv6.h>'s in6_ifreq, which clashes with glibc's headers
    in6_addr addr;
    uint32_t prefixlen;
    int ifindex;
};

[[noreturn]] void fail(int sock, const char* step) {
    Note n{};
    std::snprintf(n.step, sizeof(n.step), "%s", step);
    n.err = errno;
    (void)send_with_fds(sock, &n, sizeof(n));
    ::_exit(1);
}

void add_v4(int sock, int ctl, const std::array<uint8_t, 4>& addr, unsigned prefix, unsigned alias) {
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "lo:%u", alias);
    auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, addr.data(), 4);
    char step[96];
    std::snprintf(step, sizeof(step), "add %u.%u.%u.%u/%u to the sandbox's lo", addr[0], addr[1], addr[2], addr[3], prefix);
    if (::ioctl(ctl, SIOCSIFADDR, &ifr) < 0) fail(sock, step);
    sin->sin_addr.s_addr = prefix ? htonl(~0u << (32 - prefix)) : 0;
    if (::ioctl(ctl, SIOCSIFNETMASK, &ifr) < 0) fail(sock, step);
}

int listener(int sock, int family, int type, uint16_t port, const char* what) {
    int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
    char step[96];
    std::snprintf(step, sizeof(step), "%s socket for port %u in the sandbox", what, port);
    if (fd < 0) fail(sock, step);
    int one = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_storage ss{};
    socklen_t len;
    // The resolver answers from the address each question was sent to (IP_PKTINFO): the C
    // library's socket is connected to the name server resolv.conf names, 127.0.0.53 on a
    // host with systemd-resolved, and drops an answer from any other address, 127.0.0.1 the
    // kernel would choose among them.
    if (type == SOCK_DGRAM) {
        std::snprintf(step, sizeof(step), "ask %s port %u in the sandbox for the address asked (PKTINFO)", what, port);
        if (::setsockopt(fd, family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP, family == AF_INET6 ? IPV6_RECVPKTINFO : IP_PKTINFO,
                         &one, sizeof(one)) < 0)
            fail(sock, step);
    }
    if (family == AF_INET6) {
        (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_any;
        a->sin6_port = htons(port);
        len = sizeof(*a);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_ANY);
        a->sin_port = htons(port);
        len = sizeof(*a);
    }
    std::snprintf(step, sizeof(step), "bind %s port %u in the sandbox", what, port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
        if (family == AF_INET6 && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)) {
            ::close(fd);
            return -1;  // no IPv6 in this namespace
        }
        fail(sock, step);
    }
    if (type == SOCK_STREAM && ::listen(fd, 128) < 0) fail(sock, step);
    return fd;
}

[[noreturn]] void child(int sock, int userns_fd, int netns_fd, const EgressListenPlan& plan) {
    if (userns_fd >= 0 && ::setns(userns_fd, CLONE_NEWUSER) < 0) fail(sock, "enter the sandbox's user namespace");
    if (::setns(netns_fd, CLONE_NEWNET) < 0) fail(sock, "enter the sandbox's network namespace");
    int ctl = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (ctl < 0) fail(sock, "socket for lo's addresses");
    unsigned alias = 1;
    add_v4(sock, ctl, plan.block, plan.block_prefix, alias++);
    for (const auto& a : plan.v4_hosts)
        if (a[0] != 127) add_v4(sock, ctl, a, 32, alias++);  // 127/8 is lo's already
    for (const auto& [a, prefix] : plan.v4_nets) add_v4(sock, ctl, a, prefix, alias++);
    if (!plan.v6_hosts.empty()) {
        int ctl6 = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        for (const auto& a : plan.v6_hosts) {
            if (ctl6 < 0) break;  // no IPv6 here: nothing to answer on
            in6_ifreq_compat r{};
            std::memcpy(&r.addr, a.data(), 16);
            r.prefixlen = 128;
            r.ifindex = static_cast<int>(::if_nametoindex("lo"));
            if (IN6_IS_ADDR_LOOPBACK(&r.addr)) continue;
            if (::ioctl(ctl6, SIOCSIFADDR, &r) < 0 && errno != EEXIST) fail(sock, "add a name server's IPv6 address to the sandbox's lo");
        }
    }
    auto send_fd = [&](int kind, uint32_t index, int fd) {
        Note n{};
        n.kind = kind;
        n.index = index;
        if (!send_with_fds(sock, &n, sizeof(n), &fd, 1)) ::_exit(1);
        ::close(fd);
    };
    send_fd(1, 0, listener(sock, AF_INET, SOCK_DGRAM, 53, "UDP"));
    if (int fd = listener(sock, AF_INET6, SOCK_DGRAM, 53, "UDP6"); fd >= 0) send_fd(2, 0, fd);
    for (uint32_t i = 0; i < plan.tcp_ports.size(); ++i) send_fd(3, i, listener(sock, AF_INET, SOCK_STREAM, plan.tcp_ports[i], "TCP"));
    Note done{};
    done.kind = 4;
    (void)send_with_fds(sock, &done, sizeof(done));
    ::_exit(0);
}

}  // namespace

EgressSockets make_egress_sockets(int userns_fd, int netns_fd, const EgressListenPlan& plan) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) throw Error(ErrorKind::Setup, "socketpair", "egress listeners", errno);
    kernel::Fd ours(pair[0]), theirs(pair[1]);
    pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorKind::Setup, "fork", "egress listeners", errno);
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        child(theirs.get(), userns_fd, netns_fd, plan);
    }
    theirs.reset();
    EgressSockets out;
    out.tcp.resize(plan.tcp_ports.size());
    std::string failed;
    int failed_errno = 0;
    for (;;) {
        Note n{};
        int fd = -1;
        size_t nfds = 1;
        ssize_t got = recv_with_fds(ours.get(), &n, sizeof(n), &fd, &nfds);
        if (got != static_cast<ssize_t>(sizeof(n))) {
            if (nfds) ::close(fd);
            failed = "the egress listeners' helper ended early";
            failed_errno = got < 0 ? errno : EPIPE;
            break;
        }
        kernel::Fd given(nfds ? fd : -1);
        if (n.kind == 4) break;
        if (n.kind == 0) {
            failed = std::string(n.step, strnlen(n.step, sizeof(n.step)));
            failed_errno = n.err;
            break;
        }
        if (!given) continue;
        if (n.kind == 1) out.dns4 = std::move(given);
        else if (n.kind == 2) out.dns6 = std::move(given);
        else if (n.kind == 3 && n.index < out.tcp.size()) out.tcp[n.index] = std::move(given);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!failed.empty()) throw Error(ErrorKind::Setup, "--allow-host", failed, failed_errno);
    for (const auto& t : out.tcp)
        if (!t) throw Error(ErrorKind::Setup, "--allow-host", "a listener did not come back", EPROTO);
    if (!out.dns4) throw Error(ErrorKind::Setup, "--allow-host", "the resolver's socket did not come back", EPROTO);
    return out;
}

}  // namespace caisson::mech
