// Route netlink through libmnl: the few link, address and route operations veth networking
// needs. One socket per network namespace (a netlink socket stays in the namespace it was
// opened in). Every failure throws caisson::Error naming the step, the object and errno.
#pragma once

#include <libmnl/libmnl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace caisson::net {

struct Route {
    uint8_t dst[4] = {};
    uint8_t prefix = 0;
    uint32_t oif = 0;
};

class Rtnl {
public:
    Rtnl();  // in the calling thread's network namespace
    ~Rtnl();
    Rtnl(const Rtnl&) = delete;
    Rtnl& operator=(const Rtnl&) = delete;

    // 0 when there is no such link.
    uint32_t link_index(const std::string& name);
    // Returns false when the bridge already existed.
    bool create_bridge(const std::string& name);
    // A veth pair: `host` here, `peer` created directly in the namespace `peer_netns_fd`.
    // Returns false when a link named `host` exists.
    bool create_veth(const std::string& host, const std::string& peer, int peer_netns_fd);
    void set_master(uint32_t index, uint32_t master, const std::string& name);
    void set_up(uint32_t index, const std::string& name);
    void set_alias(uint32_t index, const char* alias, const std::string& name);
    // A bridge port that forwards to the bridge only, never to other isolated ports.
    void isolate_port(uint32_t index, const std::string& name);
    // Returns false when the address was already there.
    bool add_address(uint32_t index, const uint8_t addr[4], uint8_t prefix, const std::string& name);
    void add_default_route(const uint8_t gateway[4]);
    // Returns false when there was no such link.
    bool delete_link(const std::string& name);
    // IPv4 routes of the main table.
    std::vector<Route> routes();

private:
    // Sends one request and waits for its acknowledgement; returns 0 or -errno.
    int request(struct nlmsghdr* nlh);
    struct nlmsghdr* start(uint16_t type, uint16_t flags);
    mnl_socket* sock_ = nullptr;
    uint32_t portid_ = 0;
    uint32_t seq_ = 0;
    std::vector<char> buf_;
};

}  // namespace caisson::net
