#include "mech/guest_nic.hpp"

#include "kernel/fd.hpp"

#include <caisson/error.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace caisson::mech {
namespace {

// RTM_NEWLINK on the device's index with IFLA_NET_NS_FD: the kernel moves it into that
// namespace (its addresses and routes stay behind, which is why they are set after). 0 or an
// errno.
int move_link(int ifindex, int netns_fd) {
    struct {
        nlmsghdr header;
        ifinfomsg link;
        char attributes[16];
    } r{};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    r.header.nlmsg_type = RTM_NEWLINK;
    r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    r.header.nlmsg_seq = 1;
    r.link.ifi_family = AF_UNSPEC;
    r.link.ifi_index = ifindex;
    auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&r) + NLMSG_ALIGN(r.header.nlmsg_len));
    a->rta_type = IFLA_NET_NS_FD;
    a->rta_len = static_cast<unsigned short>(RTA_LENGTH(sizeof(int)));
    std::memcpy(RTA_DATA(a), &netns_fd, sizeof(int));
    r.header.nlmsg_len = NLMSG_ALIGN(r.header.nlmsg_len) + RTA_ALIGN(a->rta_len);

    kernel::Fd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!nl) return errno;
    sockaddr_nl kernel_address{};
    kernel_address.nl_family = AF_NETLINK;
    if (::sendto(nl.get(), &r, r.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel_address), sizeof kernel_address) < 0)
        return errno;
    alignas(nlmsghdr) char buf[4096];
    ssize_t n;
    do n = ::recv(nl.get(), buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno;
    const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
    if (!NLMSG_OK(h, static_cast<unsigned>(n)) || h->nlmsg_type != NLMSG_ERROR ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr)))
        return EPROTO;
    return -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
}

sockaddr_in ipv4(const std::string& dotted) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (::inet_pton(AF_INET, dotted.c_str(), &a.sin_addr) != 1) throw Error::usage("guest network: not an IPv4 address", dotted);
    return a;
}

}  // namespace

void give_guest_nic(const GuestNic& nic, pid_t sandbox_pid) {
    if (nic.name.empty() || nic.name.size() >= IFNAMSIZ) throw Error::usage("guest network: bad device name", nic.name);
    if (nic.prefix < 0 || nic.prefix > 32) throw Error::usage("guest network: bad prefix", std::to_string(nic.prefix));
    const sockaddr_in address = ipv4(nic.address), gateway = ipv4(nic.gateway);
    sockaddr_in mask{};
    mask.sin_family = AF_INET;
    mask.sin_addr.s_addr = htonl(nic.prefix == 0 ? 0 : ~0u << (32 - nic.prefix));

    const unsigned ifindex = ::if_nametoindex(nic.name.c_str());
    if (ifindex == 0) throw Error(ErrorKind::Setup, "guest network: find the device", nic.name, errno);
    const std::string ns = "/proc/" + std::to_string(sandbox_pid) + "/ns/net";
    kernel::Fd netns(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns) throw Error(ErrorKind::Setup, "guest network: open", ns, errno);
    if (int err = move_link(static_cast<int>(ifindex), netns.get()))
        throw Error(ErrorKind::Setup, "guest network: move the device into the sandbox", nic.name, err);

    // A socket made in the sandbox's namespace configures the devices there: a thread enters
    // it (a network namespace is a thread's own) and makes one; this process stays in its own.
    kernel::Fd s;
    int err = 0;
    std::thread([&] {
        if (::setns(netns.get(), CLONE_NEWNET) != 0) err = errno;
        else if (s.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); !s) err = errno;
    }).join();
    if (err) throw Error(ErrorKind::Setup, "guest network: a socket in the sandbox's namespace", ns, err);
    auto must = [&](unsigned long request, void* arg, const char* step) {
        if (::ioctl(s.get(), request, arg) != 0) throw Error(ErrorKind::Setup, std::string("guest network: ") + step, nic.name, errno);
    };
    ifreq req{};
    std::memcpy(req.ifr_name, nic.name.c_str(), nic.name.size());
    std::memcpy(&req.ifr_addr, &address, sizeof address);
    must(SIOCSIFADDR, &req, "set the address");
    std::memcpy(&req.ifr_netmask, &mask, sizeof mask);
    must(SIOCSIFNETMASK, &req, "set the netmask");
    req.ifr_mtu = nic.mtu;
    must(SIOCSIFMTU, &req, "set the MTU");
    must(SIOCGIFFLAGS, &req, "read the flags");
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
    must(SIOCSIFFLAGS, &req, "bring it up");
    rtentry route{};
    sockaddr_in any{};
    any.sin_family = AF_INET;
    std::memcpy(&route.rt_dst, &any, sizeof any);
    std::memcpy(&route.rt_genmask, &any, sizeof any);
    std::memcpy(&route.rt_gateway, &gateway, sizeof gateway);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    char dev[IFNAMSIZ] = {};
    std::memcpy(dev, nic.name.c_str(), nic.name.size());
    route.rt_dev = dev;
    must(SIOCADDRT, &route, "add the default route");
}

}  // namespace caisson::mech
