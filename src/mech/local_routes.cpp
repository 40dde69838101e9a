#include "mech/local_routes.hpp"

#include "mech/clone.hpp"
#include "mech/fd_passing.hpp"

#include "kernel/fd.hpp"

#include <caisson/error.hpp>

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace caisson::mech {
namespace {

constexpr const char* kWhat = "the local routes of the sandbox's network namespace";

// A route netlink socket opened in the namespace `netns_fd` by a copy of this process
// (mech/clone's clone_quiet), handed back over a socket pair.
kernel::Fd socket_in(int netns_fd) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
        throw Error(ErrorKind::Setup, "--deny-private: socketpair", kWhat, errno);
    kernel::Fd ours(sp[0]), theirs(sp[1]);
    struct Job {
        int netns_fd, out;
    } job{netns_fd, theirs.get()};
    const int pidfd = clone_quiet(
        [](void* a) {
            const auto* j = static_cast<const Job*>(a);
            int said[2] = {0, 0};  // the step that failed (1 setns, 2 socket) and its errno
            int nl = -1;
            if (::setns(j->netns_fd, CLONE_NEWNET) != 0) said[0] = 1, said[1] = errno;
            else if ((nl = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0) said[0] = 2, said[1] = errno;
            return send_with_fds(j->out, said, sizeof(said), nl >= 0 ? &nl : nullptr, nl >= 0 ? 1 : 0) ? 0 : 1;
        },
        &job);
    if (pidfd < 0) throw Error(ErrorKind::Setup, "--deny-private: clone", kWhat, errno);
    theirs.reset();
    int said[2] = {0, 0};
    int fd = -1;
    size_t nfds = 1;
    const ssize_t n = recv_with_fds(ours.get(), said, sizeof(said), &fd, &nfds);
    const int recv_err = errno;
    kernel::Fd nl(nfds == 1 ? fd : -1);
    const int status = wait_quiet(pidfd);
    if (status < 0 && errno != EIO) throw Error(ErrorKind::Setup, "--deny-private: waitid", kWhat, errno);
    if (n != static_cast<ssize_t>(sizeof(said)) || status != 0)
        throw Error(ErrorKind::Setup, "--deny-private: the helper that opens it ended without a word", kWhat,
                    n < 0 ? recv_err : EIO);
    if (said[0] != 0)
        throw Error(ErrorKind::Setup, said[0] == 1 ? "--deny-private: setns into the network namespace"
                                                   : "--deny-private: open a route netlink socket there",
                    kWhat, said[1]);
    if (!nl) throw Error(ErrorKind::Setup, "--deny-private: receive the netlink socket", kWhat, EPROTO);
    return nl;
}

NetDestination destination(int family, const void* addr, unsigned prefix) {
    NetDestination out;
    out.v6 = family == AF_INET6;
    out.prefix = static_cast<uint8_t>(prefix);
    std::memcpy(out.addr.data(), addr, out.v6 ? 16 : 4);
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(family, out.addr.data(), text, sizeof(text));
    out.text = "local " + std::string(text) + "/" + std::to_string(prefix);
    return out;
}

// A local, broadcast or anycast route of the tables the kernel looks in for every packet
// (local and main): a route of another table is used only where an `ip rule` sends some
// packets there (TPROXY's `local 0.0.0.0/0` in a table of its own would otherwise take a
// whole family).
bool take_route(const nlmsghdr* h, NetDestination& out) {
    if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return false;
    const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
    if (rt->rtm_type != RTN_LOCAL && rt->rtm_type != RTN_BROADCAST && rt->rtm_type != RTN_ANYCAST) return false;
    if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) return false;
    const size_t size = rt->rtm_family == AF_INET ? 4 : 16;
    if (rt->rtm_dst_len > size * 8) return false;
    uint32_t table = rt->rtm_table;
    uint8_t addr[16] = {};  // a route with no RTA_DST is the whole family: 0 bits
    int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(rtmsg)));
    for (auto* a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == size) std::memcpy(addr, RTA_DATA(a), size);
        if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) == sizeof(uint32_t)) std::memcpy(&table, RTA_DATA(a), sizeof(table));
    }
    if (table != RT_TABLE_LOCAL && table != RT_TABLE_MAIN) return false;
    out = destination(rt->rtm_family, addr, rt->rtm_dst_len);
    return true;
}

// An address of an interface, whole: also one whose local route is not there yet (an IPv6
// address still in duplicate address detection, a link without carrier).
bool take_address(const nlmsghdr* h, NetDestination& out) {
    if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return false;
    const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return false;
    const size_t size = ifa->ifa_family == AF_INET ? 4 : 16;
    const void* local = nullptr;
    const void* address = nullptr;
    int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ifaddrmsg)));
    for (auto* a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (RTA_PAYLOAD(a) != size) continue;
        if (a->rta_type == IFA_LOCAL) local = RTA_DATA(a);
        if (a->rta_type == IFA_ADDRESS) address = RTA_DATA(a);
    }
    // IFA_LOCAL is the interface's own where both are given (IFA_ADDRESS is then the peer's
    // of a point-to-point link).
    const void* own = local ? local : address;
    if (!own) return false;
    out = destination(ifa->ifa_family, own, static_cast<unsigned>(size * 8));
    return true;
}

// One dump (`type`: RTM_GETROUTE or RTM_GETADDR, both families), every message to `take`.
// False when the kernel says the dump was interrupted by a change (NLM_F_DUMP_INTR): the
// caller asks again. Throws naming the step: an error, a message cut short, a dump that ended
// in an error of its own.
bool dump(int nl, uint16_t type, const char* step, bool (*take)(const nlmsghdr*, NetDestination&),
          std::vector<NetDestination>& out) {
    struct {
        nlmsghdr header;
        rtgenmsg body;
    } request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtgenmsg));
    request.header.nlmsg_type = type;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = type;
    request.body.rtgen_family = AF_UNSPEC;
    sockaddr_nl kernel_address{};
    kernel_address.nl_family = AF_NETLINK;
    if (::sendto(nl, &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel_address),
                 sizeof(kernel_address)) < 0)
        throw Error(ErrorKind::Setup, std::string("--deny-private: ask for ") + step, kWhat, errno);
    const std::string reading = std::string("--deny-private: read ") + step;
    std::vector<char> buf(65536);  // operator new's alignment is nlmsghdr's and more
    bool interrupted = false;
    for (;;) {
        iovec v{buf.data(), buf.size()};
        msghdr m{};
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        ssize_t n;
        do n = ::recvmsg(nl, &m, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) throw Error(ErrorKind::Setup, reading, kWhat, errno);
        if (n == 0 || (m.msg_flags & MSG_TRUNC)) throw Error(ErrorKind::Setup, reading, kWhat, EPROTO);
        unsigned left = static_cast<unsigned>(n);
        for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_seq != request.header.nlmsg_seq) continue;
            interrupted |= (h->nlmsg_flags & NLM_F_DUMP_INTR) != 0;
            if (h->nlmsg_type == NLMSG_DONE) {
                int status = 0;  // a dump that the kernel ended early says why here
                if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) std::memcpy(&status, NLMSG_DATA(h), sizeof(status));
                if (status < 0) throw Error(ErrorKind::Setup, reading, kWhat, -status);
                return !interrupted;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
                const int err = h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)) && e->error < 0 ? -e->error : EPROTO;
                throw Error(ErrorKind::Setup, reading, kWhat, err);
            }
            NetDestination d;
            if (take(h, d)) out.push_back(std::move(d));
        }
    }
}

}  // namespace

std::vector<NetDestination> local_destinations(int netns_fd) {
    kernel::Fd nl = netns_fd >= 0 ? socket_in(netns_fd) : kernel::Fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!nl) throw Error(ErrorKind::Setup, "--deny-private: open a route netlink socket", kWhat, errno);
    // A change during a dump marks it: asked again, a few times, then an error rather than
    // rules with a hole.
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::vector<NetDestination> out;
        if (dump(nl.get(), RTM_GETROUTE, "the routes (RTM_GETROUTE)", take_route, out) &&
            dump(nl.get(), RTM_GETADDR, "the addresses (RTM_GETADDR)", take_address, out))
            return out;
    }
    throw Error(ErrorKind::Setup, "--deny-private: read the routes and addresses", kWhat, EAGAIN);
}

}  // namespace caisson::mech
