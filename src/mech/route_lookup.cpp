#include "mech/route_lookup.hpp"

#include "kernel/fd.hpp"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace caisson::mech {
namespace {

struct Request {
    nlmsghdr header;
    rtmsg route;
    char attributes[64];
};

void add_attribute(Request& r, unsigned short type, const void* data, size_t size) {
    auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&r) + NLMSG_ALIGN(r.header.nlmsg_len));
    a->rta_type = type;
    a->rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
    std::memcpy(RTA_DATA(a), data, size);
    r.header.nlmsg_len = NLMSG_ALIGN(r.header.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

}  // namespace

namespace {

// Sends one request on a new route netlink socket and reads the one answer into `buf`;
// the answer's header, or nullptr (errno set, or the kernel's error as -1 with errno).
const nlmsghdr* ask(const void* request, size_t size, char (&buf)[32768], kernel::Fd& nl) {
    nl.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!nl) return nullptr;
    sockaddr_nl kernel_address{};
    kernel_address.nl_family = AF_NETLINK;
    if (::sendto(nl.get(), request, size, 0, reinterpret_cast<sockaddr*>(&kernel_address), sizeof(kernel_address)) < 0)
        return nullptr;
    ssize_t n;
    do n = ::recv(nl.get(), buf, sizeof(buf), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) return nullptr;
    const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
    if (!NLMSG_OK(h, static_cast<unsigned>(n))) {
        errno = EPROTO;
        return nullptr;
    }
    return h;
}

}  // namespace

RouteLookup route_to(const sockaddr_storage& to, uint16_t port) {
    RouteLookup out;
    Request r{};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    r.header.nlmsg_type = RTM_GETROUTE;
    r.header.nlmsg_flags = NLM_F_REQUEST;
    r.header.nlmsg_seq = 1;
    // IPv4 inside IPv6 goes where IPv4 goes.
    in_addr v4{};
    const in6_addr* v6 = nullptr;
    if (to.ss_family == AF_INET) {
        v4 = reinterpret_cast<const sockaddr_in*>(&to)->sin_addr;
    } else if (to.ss_family == AF_INET6) {
        v6 = &reinterpret_cast<const sockaddr_in6*>(&to)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(v6)) {
            std::memcpy(&v4, v6->s6_addr + 12, 4);
            v6 = nullptr;
        }
    } else {
        errno = EAFNOSUPPORT;
        return out;
    }
    r.route.rtm_family = v6 ? AF_INET6 : AF_INET;
    r.route.rtm_dst_len = v6 ? 128 : 32;
    if (v6) add_attribute(r, RTA_DST, v6, 16);
    else add_attribute(r, RTA_DST, &v4, 4);
    const uint8_t tcp = IPPROTO_TCP;
    const uint16_t port_be = htons(port);
    add_attribute(r, RTA_IP_PROTO, &tcp, 1);
    add_attribute(r, RTA_DPORT, &port_be, 2);

    kernel::Fd nl;
    alignas(nlmsghdr) char buf[32768];
    const nlmsghdr* h = ask(&r, r.header.nlmsg_len, buf, nl);
    if (!h) return out;
    if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr)) || e->error == 0) {
            errno = EPROTO;
            return out;
        }
        // No route at all (unreachable, prohibit): no machine, the host's or another's, is
        // reached that way. Anything else (a malformed request among it) is not an answer.
        if (e->error == -ENETUNREACH || e->error == -EHOSTUNREACH || e->error == -EACCES) out.type = RTN_UNREACHABLE;
        else errno = -e->error;
        return out;
    }
    if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) {
        errno = EPROTO;
        return out;
    }
    const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
    int left = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(rtmsg)));
    for (const auto* a = RTM_RTA(rt); RTA_OK(a, left); a = RTA_NEXT(a, left))
        if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int)) std::memcpy(&out.oif, RTA_DATA(a), sizeof(int));
    out.type = rt->rtm_type;
    return out;
}

bool link_alias(int ifindex, char (&alias)[128]) {
    alias[0] = 0;
    struct {
        nlmsghdr header;
        ifinfomsg link;
    } r{};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    r.header.nlmsg_type = RTM_GETLINK;
    r.header.nlmsg_flags = NLM_F_REQUEST;
    r.header.nlmsg_seq = 1;
    r.link.ifi_family = AF_UNSPEC;
    r.link.ifi_index = ifindex;
    kernel::Fd nl;
    alignas(nlmsghdr) char buf[32768];
    const nlmsghdr* h = ask(&r, r.header.nlmsg_len, buf, nl);
    if (!h || h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) {
        if (h) errno = EPROTO;
        return false;
    }
    const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    int left = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ifinfomsg)));
    for (const auto* a = IFLA_RTA(ifi); RTA_OK(a, left); a = RTA_NEXT(a, left))
        if (a->rta_type == IFLA_IFALIAS) {
            size_t n = std::min<size_t>(RTA_PAYLOAD(a), sizeof(alias) - 1);
            std::memcpy(alias, RTA_DATA(a), n);
            alias[n] = 0;
            alias[strnlen(alias, n)] = 0;
        }
    return true;
}

}  // namespace caisson::mech
