#include "net/netlink.hpp"

#include <caisson/error.hpp>

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace caisson::net {

Rtnl::Rtnl() : buf_(MNL_SOCKET_BUFFER_SIZE) {
    sock_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!sock_) throw Error(ErrorKind::Setup, "open netlink socket", "NETLINK_ROUTE", errno);
    if (mnl_socket_bind(sock_, 0, MNL_SOCKET_AUTOPID) < 0) {
        int err = errno;
        mnl_socket_close(sock_);
        throw Error(ErrorKind::Setup, "bind netlink socket", "NETLINK_ROUTE", err);
    }
    portid_ = mnl_socket_get_portid(sock_);
}

Rtnl::~Rtnl() { mnl_socket_close(sock_); }

nlmsghdr* Rtnl::start(uint16_t type, uint16_t flags) {
    std::fill(buf_.begin(), buf_.end(), 0);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    nlh->nlmsg_seq = ++seq_;
    return nlh;
}

int Rtnl::request(nlmsghdr* nlh) {
    nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) return -errno;
    std::vector<char> reply(MNL_SOCKET_BUFFER_SIZE);
    while (true) {
        ssize_t n = mnl_socket_recvfrom(sock_, reply.data(), reply.size());
        if (n < 0) return -errno;
        int rc = mnl_cb_run(reply.data(), static_cast<size_t>(n), nlh->nlmsg_seq, portid_, nullptr, nullptr);
        if (rc < 0) return -errno;
        if (rc == MNL_CB_STOP) return 0;
    }
}

// A link request: the header and its ifinfomsg, for `index` (0: named by attribute).
static nlmsghdr* link_request(nlmsghdr* nlh, uint32_t index) {
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = static_cast<int>(index);
    return nlh;
}

uint32_t Rtnl::link_index(const std::string& name) { return ::if_nametoindex(name.c_str()); }

bool Rtnl::create_bridge(const std::string& name) {
    nlmsghdr* nlh = link_request(start(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL), 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, info);
    int rc = request(nlh);
    if (rc == -EEXIST) return false;
    if (rc < 0) throw Error(ErrorKind::Setup, "create bridge", name, -rc);
    return true;
}

bool Rtnl::create_veth(const std::string& host, const std::string& peer, int peer_netns_fd) {
    nlmsghdr* nlh = link_request(start(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL), 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, host.c_str());
    // One queue each way, asked for at creation: a veth is otherwise made with a queue per
    // possible CPU and cut to one once registered, and each cut waits for an expedited RCU
    // grace period with the rtnl lock held (perf: synchronize_rcu_expedited under
    // veth_init_queues, once for each end, for every sandbox).
    mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
    mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
    nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    nlattr* peer_info = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    // The peer's own ifinfomsg comes first inside VETH_INFO_PEER.
    auto* pifm = reinterpret_cast<ifinfomsg*>(reinterpret_cast<char*>(nlh) + nlh->nlmsg_len);
    std::memset(pifm, 0, sizeof(*pifm));
    nlh->nlmsg_len += MNL_ALIGN(sizeof(ifinfomsg));
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer.c_str());
    mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
    mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
    mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(peer_netns_fd));
    mnl_attr_nest_end(nlh, peer_info);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, info);
    int rc = request(nlh);
    if (rc == -EEXIST) return false;
    if (rc < 0) throw Error(ErrorKind::Setup, "create veth pair", host + " / " + peer, -rc);
    return true;
}

void Rtnl::set_master(uint32_t index, uint32_t master, const std::string& name) {
    nlmsghdr* nlh = link_request(start(RTM_NEWLINK, 0), index);
    mnl_attr_put_u32(nlh, IFLA_MASTER, master);
    if (int rc = request(nlh); rc < 0) throw Error(ErrorKind::Setup, "attach to bridge", name, -rc);
}

void Rtnl::set_up(uint32_t index, const std::string& name) {
    nlmsghdr* nlh = link_request(start(RTM_NEWLINK, 0), index);
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
    if (int rc = request(nlh); rc < 0) throw Error(ErrorKind::Setup, "set link up", name, -rc);
}

void Rtnl::set_alias(uint32_t index, const char* alias, const std::string& name) {
    nlmsghdr* nlh = link_request(start(RTM_NEWLINK, 0), index);
    mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias);
    if (int rc = request(nlh); rc < 0) throw Error(ErrorKind::Setup, "set link alias", name, -rc);
}

void Rtnl::isolate_port(uint32_t index, const std::string& name) {
    nlmsghdr* nlh = link_request(start(RTM_NEWLINK, 0), index);
    static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(nlh))->ifi_family = AF_BRIDGE;
    nlattr* info = mnl_attr_nest_start(nlh, IFLA_PROTINFO);
    mnl_attr_put_u8(nlh, IFLA_BRPORT_ISOLATED, 1);
    mnl_attr_nest_end(nlh, info);
    if (int rc = request(nlh); rc < 0) throw Error(ErrorKind::Setup, "isolate bridge port", name, -rc);
}

bool Rtnl::add_address(uint32_t index, const uint8_t addr[4], uint8_t prefix, const std::string& name) {
    nlmsghdr* nlh = start(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = prefix;
    ifa->ifa_index = index;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    mnl_attr_put(nlh, IFA_LOCAL, 4, addr);
    mnl_attr_put(nlh, IFA_ADDRESS, 4, addr);
    int rc = request(nlh);
    if (rc == -EEXIST) return false;
    if (rc < 0) throw Error(ErrorKind::Setup, "add address", name, -rc);
    return true;
}

void Rtnl::add_default_route(const uint8_t gateway[4]) {
    nlmsghdr* nlh = start(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = AF_INET;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put(nlh, RTA_GATEWAY, 4, gateway);
    if (int rc = request(nlh); rc < 0) throw Error(ErrorKind::Setup, "add default route", "sandbox", -rc);
}

bool Rtnl::delete_link(const std::string& name) {
    nlmsghdr* nlh = link_request(start(RTM_DELLINK, 0), 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    int rc = request(nlh);
    if (rc == -ENODEV) return false;
    if (rc < 0) throw Error(ErrorKind::Setup, "delete link", name, -rc);
    return true;
}

std::vector<Route> Rtnl::routes() {
    nlmsghdr* nlh = start(RTM_GETROUTE, NLM_F_DUMP);
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = AF_INET;
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) throw Error(ErrorKind::Setup, "dump routes", "main table", errno);
    std::vector<Route> out;
    std::vector<char> reply(MNL_SOCKET_BUFFER_SIZE);
    auto on_route = [](const nlmsghdr* m, void* data) -> int {
        auto* r = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(m));
        if (r->rtm_family != AF_INET || r->rtm_table != RT_TABLE_MAIN) return MNL_CB_OK;
        Route route;
        route.prefix = r->rtm_dst_len;
        auto* end = static_cast<const char*>(mnl_nlmsg_get_payload_tail(m));
        for (auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(m, sizeof(rtmsg)));
             mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a)) {
            if (mnl_attr_get_type(a) == RTA_DST && mnl_attr_get_payload_len(a) == 4)
                std::memcpy(route.dst, mnl_attr_get_payload(a), 4);
            else if (mnl_attr_get_type(a) == RTA_OIF)
                route.oif = mnl_attr_get_u32(a);
        }
        static_cast<std::vector<Route>*>(data)->push_back(route);
        return MNL_CB_OK;
    };
    while (true) {
        ssize_t n = mnl_socket_recvfrom(sock_, reply.data(), reply.size());
        if (n < 0) throw Error(ErrorKind::Setup, "dump routes", "main table", errno);
        int rc = mnl_cb_run(reply.data(), static_cast<size_t>(n), nlh->nlmsg_seq, portid_, on_route, &out);
        if (rc < 0) throw Error(ErrorKind::Setup, "dump routes", "main table", errno);
        if (rc == MNL_CB_STOP) return out;
    }
}

}  // namespace caisson::net
