#include "mech/local_routes.hpp"

#include "mech/clone.hpp"
#include "mech/fd_passing.hpp"

#include "kernel/fd.hpp"

#include <caisson/error.hpp>

#include <arpa/inet.h>
#include <linux/netlink.h>
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

// The route's destination as a destination of the egress policy, when it is one the
// namespace keeps for itself.
bool take(const nlmsghdr* h, NetDestination& out) {
    if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return false;
    const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
    if (rt->rtm_type != RTN_LOCAL && rt->rtm_type != RTN_BROADCAST && rt->rtm_type != RTN_ANYCAST) return false;
    if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) return false;
    const size_t size = rt->rtm_family == AF_INET ? 4 : 16;
    if (rt->rtm_dst_len > size * 8) return false;
    out = NetDestination{};
    out.v6 = rt->rtm_family == AF_INET6;
    out.prefix = rt->rtm_dst_len;  // a route with no RTA_DST is the whole family: 0 bits
    int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(rtmsg)));
    for (auto* a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == size) std::memcpy(out.addr.data(), RTA_DATA(a), size);
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(rt->rtm_family, out.addr.data(), text, sizeof(text));
    out.text = "local " + std::string(text) + "/" + std::to_string(out.prefix);
    return true;
}

}  // namespace

std::vector<NetDestination> local_destinations(int netns_fd) {
    kernel::Fd nl = netns_fd >= 0 ? socket_in(netns_fd) : kernel::Fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!nl) throw Error(ErrorKind::Setup, "--deny-private: open a route netlink socket", kWhat, errno);
    struct {
        nlmsghdr header;
        rtmsg route;
    } request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    request.header.nlmsg_type = RTM_GETROUTE;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = 1;
    request.route.rtm_family = AF_UNSPEC;  // both families, every table
    sockaddr_nl kernel_address{};
    kernel_address.nl_family = AF_NETLINK;
    if (::sendto(nl.get(), &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel_address),
                 sizeof(kernel_address)) < 0)
        throw Error(ErrorKind::Setup, "--deny-private: ask for the routes (RTM_GETROUTE)", kWhat, errno);
    std::vector<NetDestination> out;
    std::vector<char> buf(65536);  // operator new's alignment is nlmsghdr's and more
    for (;;) {
        ssize_t n;
        do n = ::recv(nl.get(), buf.data(), buf.size(), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) throw Error(ErrorKind::Setup, "--deny-private: read the routes", kWhat, errno);
        if (n == 0) throw Error(ErrorKind::Setup, "--deny-private: read the routes", kWhat, EPROTO);
        unsigned left = static_cast<unsigned>(n);
        for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type == NLMSG_DONE) return out;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
                const int err = h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)) && e->error < 0 ? -e->error : EPROTO;
                throw Error(ErrorKind::Setup, "--deny-private: read the routes", kWhat, err);
            }
            NetDestination d;
            if (take(h, d)) out.push_back(std::move(d));
        }
    }
}

}  // namespace caisson::mech
