#include "net/bridge.hpp"

#include "kernel/fd.hpp"
#include "mech/process_start.hpp"
#include "mech/leases.hpp"
#include "mech/route_lookup.hpp"
#include "net/netlink.hpp"
#include "policy/net_address.hpp"

#include <caisson/error.hpp>

#include <dirent.h>
#include <string_view>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

namespace caisson::net {
using mech::Lease;
using mech::LeaseDir;
namespace {

constexpr const char* kForward = "/proc/sys/net/ipv4/ip_forward";

std::string host_link_name(const std::array<uint8_t, 4>& a) {
    char name[16];
    std::snprintf(name, sizeof(name), "cs%02x%02x%02x%02x", a[0], a[1], a[2], a[3]);
    return name;
}

std::string hex(const std::string& dotted) {
    auto d = net_address::parse_destination(dotted, "lease address").at(0);
    return host_link_name({d.addr[0], d.addr[1], d.addr[2], d.addr[3]}).substr(2);
}

std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

void write_sysctl(const std::string& path, const char* value) {
    kernel::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), value, std::strlen(value)) < 0) throw Error(ErrorKind::Setup, "write sysctl", path, errno);
}

// No IPv6 on a link of ours, before it is up: caisson gives sandboxes IPv4 alone, and a
// link-local address on the bridge would be the host's, reachable from every sandbox on it
// (the filter drops that too, nftables.cpp). The namespace is the calling thread's: /proc/sys/net
// shows the opener's. A kernel without IPv6 has no such file, and nothing to disable.
void disable_ipv6(const std::string& link) {
    const std::string path = "/proc/sys/net/ipv6/conf/" + link + "/disable_ipv6";
    kernel::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    // ENOENT: a kernel without IPv6 (ipv6.disable=1 too), or a link IPv6 does not run on.
    if (!fd && errno == ENOENT) return;
    if (!fd || ::write(fd.get(), "1", 1) != 1) throw Error(ErrorKind::Setup, "disable IPv6 on " + link, path, errno);
}

// Whether IPv6 runs on a link of this namespace: a bridge an earlier caisson made had it.
bool ipv6_enabled(const std::string& link) {
    return ::access(("/proc/sys/net/ipv6/conf/" + link).c_str(), F_OK) == 0 &&
           read_line("/proc/sys/net/ipv6/conf/" + link + "/disable_ipv6") == "0";
}

// A published port must be free on the host: a listener there would be shadowed by DNAT.
void require_free_port(const PortMapping& p) {
    kernel::Fd s(::socket(AF_INET, (p.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
    if (!s) throw Error(ErrorKind::Setup, "socket", "published port check", errno);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(p.host_port);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0)
        throw Error(ErrorKind::Usage, "--publish: host port in use", std::string(p.udp ? "udp " : "tcp ") + std::to_string(p.host_port), errno);
}

// Whether the host link `link` is a port of `bridge` (its master, as sysfs names it).
bool port_of(const std::string& link, const std::string& bridge) {
    char target[PATH_MAX];
    ssize_t n = ::readlink(("/sys/class/net/" + link + "/master").c_str(), target, sizeof(target) - 1);
    if (n <= 0) return false;
    target[n] = '\0';
    const char* base = std::strrchr(target, '/');
    return bridge == (base ? base + 1 : target);
}

void remove_sandbox(Rtnl& host, const std::string& bridge, const Lease& l) {
    std::string h = hex(l.address);
    host.delete_link("cs" + h);  // normally gone already, with the sandbox's namespace
    if (!l.publish.empty()) delete_table(sandbox_table(bridge, h));
}

void remove_bridge(Rtnl& host, const LeaseDir& dir, const std::string& bridge) {
    if (dir.marked("bridge")) {
        // The host ends of sandboxes that ended before: each goes with its namespace, which
        // the kernel dismantles later (asynchronously); with the last sandbox they go now.
        if (DIR* ports = ::opendir(("/sys/class/net/" + bridge + "/brif").c_str())) {
            while (dirent* e = ::readdir(ports))
                if (std::string_view(e->d_name).starts_with("cs")) host.delete_link(e->d_name);
            ::closedir(ports);
        }
        host.delete_link(bridge);  // never an interface caisson did not make
    }
    dir.mark("bridge", false);
    delete_table(bridge_table(bridge));
    if (dir.forwarding_marked()) {
        write_sysctl(kForward, "0");
        dir.mark_forwarding(false);
    }
    dir.remove_dir();
}

// Drops stale leases; returns the live ones.
std::vector<Lease> sweep(Rtnl& host, const LeaseDir& dir, const std::string& bridge, std::vector<std::string>* removed) {
    std::vector<Lease> live;
    for (const auto& l : dir.list()) {
        if (LeaseDir::alive(l)) {
            live.push_back(l);
            continue;
        }
        remove_sandbox(host, bridge, l);
        dir.remove(l.address);
        if (removed) removed->push_back(bridge + " " + l.address);
    }
    return live;
}

}  // namespace

UpResult up(const UpRequest& r) {
    NetDestination subnet = net_address::parse_subnet(r.subnet, "--veth-subnet");
    const std::string subnet_text = net_address::ipv4_text(subnet.addr.data()) + "/" + std::to_string(subnet.prefix);
    LeaseDir dir(r.bridge);
    Rtnl host;
    std::vector<Lease> live = sweep(host, dir, r.bridge, nullptr);
    uint32_t bridge_index = host.link_index(r.bridge);
    const bool first = live.empty();

    // Refusals before anything is made leave nothing, not even the state directory.
    auto gateway = net_address::subnet_host(subnet, 1);
    std::array<uint8_t, 4> addr{};
    try {
        for (const auto& p : r.publish) {
            for (const auto& l : live)
                for (const auto& q : l.publish)
                    if (q.udp == p.udp && q.host_port == p.host_port)
                        throw Error::usage("--publish: host port already published by the sandbox at " + l.address,
                                           std::to_string(p.host_port));
            require_free_port(p);
        }
        if (first) {
            for (const auto& route : host.routes())
                if (route.prefix > 0 && (bridge_index == 0 || route.oif != bridge_index) &&
                    net_address::overlaps(route.dst, route.prefix, subnet.addr.data(), subnet.prefix))
                    throw Error::usage("--veth-subnet " + r.subnet + " overlaps the host's route " +
                                       net_address::ipv4_text(route.dst) + "/" + std::to_string(route.prefix));
        }
        // The first free address whose host link is gone too. A sandbox that just ended has
        // released its address, but the kernel dismantles its namespace, and the veth pair
        // with it, in the background: its host link may still be there, and removing it
        // ourselves waits out that device's removal (RCU grace periods, tens of ms here).
        // Only when every free address still has one is a stale link removed (below), and only
        // one that is a port of this bridge: caisson's, whose sandbox has ended.
        bool found = false;
        std::optional<std::array<uint8_t, 4>> stale;
        for (uint32_t n = 2; n <= net_address::subnet_hosts(subnet) && !found; ++n) {
            addr = net_address::subnet_host(subnet, n);
            std::string text = net_address::ipv4_text(addr.data());
            if (std::any_of(live.begin(), live.end(), [&](const Lease& l) { return l.address == text; })) continue;
            const std::string link = host_link_name(addr);
            if (host.link_index(link) == 0) found = true;
            else if (!stale && port_of(link, r.bridge)) stale = addr;  // a link of another's is never taken
        }
        if (!found && stale) addr = *stale, found = true;
        if (!found) throw Error::usage("--veth-subnet " + r.subnet + ": every address is in use");

    } catch (...) {
        if (first && bridge_index == 0) dir.remove_dir();
        throw;
    }
    Lease lease;
    lease.address = net_address::ipv4_text(addr.data());
    lease.owner = r.owner;
    lease.owner_start = mech::process_start_time(r.owner);
    lease.publish = r.publish;
    dir.write(lease);
    UpResult out;
    out.address = lease.address + "/" + std::to_string(subnet.prefix);
    out.gateway = net_address::ipv4_text(gateway.data());
    out.host_link = host_link_name(addr);

    kernel::Fd host_ns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    try {
        if (!host_ns) throw Error(ErrorKind::Setup, "open", "/proc/self/ns/net", errno);
        std::string ns_path = "/proc/" + std::to_string(r.sandbox_pid) + "/ns/net";
        kernel::Fd sandbox_ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!sandbox_ns) throw Error(ErrorKind::Setup, "open sandbox network namespace", ns_path, errno);

        if (first || bridge_index == 0) {
            if (host.create_bridge(r.bridge)) dir.mark("bridge", true);
            else if (!dir.marked("bridge"))
                throw Error::usage("--veth-bridge " + r.bridge + ": an interface of that name exists, and caisson did not make it");
            bridge_index = host.link_index(r.bridge);
            if (bridge_index == 0) throw Error(ErrorKind::Setup, "find bridge", r.bridge, ENODEV);
            host.set_alias(bridge_index, mech::kVethBridgeAlias, r.bridge);
            disable_ipv6(r.bridge);
            host.add_address(bridge_index, gateway.data(), subnet.prefix, r.bridge);
            host.set_up(bridge_index, r.bridge);
            // Published ports must answer on the host's loopback too: DNAT from 127.0.0.1 needs it.
            write_sysctl("/proc/sys/net/ipv4/conf/" + r.bridge + "/route_localnet", "1");
            replace_bridge_table(r.bridge, subnet_text);
            if (read_line(kForward) != "1") {
                write_sysctl(kForward, "1");
                dir.mark_forwarding(true);
            }
        } else {
            // A bridge an earlier caisson may have made, with sandboxes on it still: the alias
            // that tells caisson's egress proxy not to lead into it (idempotent, every join),
            // and, where it still runs IPv6, no IPv6 and the filter of both families, in one
            // batch, before another sandbox joins.
            host.set_alias(bridge_index, mech::kVethBridgeAlias, r.bridge);
        }
        if (!first && bridge_index != 0 && ipv6_enabled(r.bridge)) {
            disable_ipv6(r.bridge);
            replace_bridge_table(r.bridge, subnet_text);
        }
        if (!host.create_veth(out.host_link, "eth0", sandbox_ns.get())) {
            // The address's last holder has ended, but its namespace, which takes the pair
            // along, is still being dismantled by the kernel: the link is stale. Only a port
            // of this bridge is caisson's to remove.
            if (!port_of(out.host_link, r.bridge))
                throw Error(ErrorKind::Setup, "create veth pair", out.host_link + ": a link of that name, not caisson's, exists", EEXIST);
            host.delete_link(out.host_link);
            if (!host.create_veth(out.host_link, "eth0", sandbox_ns.get()))
                throw Error(ErrorKind::Setup, "create veth pair", out.host_link + ": File exists", EEXIST);
        }
        uint32_t link = host.link_index(out.host_link);
        disable_ipv6(out.host_link);
        host.set_master(link, bridge_index, out.host_link);
        host.isolate_port(link, out.host_link);  // sandboxes on one bridge do not reach each other
        host.set_up(link, out.host_link);
        if (!r.publish.empty()) replace_sandbox_table(sandbox_table(r.bridge, hex(lease.address)), lease.address, r.publish);

        if (::setns(sandbox_ns.get(), CLONE_NEWNET) < 0) throw Error(ErrorKind::Setup, "setns", ns_path, errno);
        {
            Rtnl inside;
            uint32_t eth0 = inside.link_index("eth0");
            if (eth0 == 0) throw Error(ErrorKind::Setup, "find link", "eth0 in the sandbox", ENODEV);
            disable_ipv6("eth0");
            inside.add_address(eth0, addr.data(), subnet.prefix, "eth0");
            inside.set_up(eth0, "eth0");
            inside.add_default_route(gateway.data());
        }
        if (::setns(host_ns.get(), CLONE_NEWNET) < 0) throw Error(ErrorKind::Setup, "setns back", "host network namespace", errno);
    } catch (...) {
        if (host_ns) (void)::setns(host_ns.get(), CLONE_NEWNET);
        try {
            remove_sandbox(host, r.bridge, lease);
            dir.remove(lease.address);
            if (first) remove_bridge(host, dir, r.bridge);
        } catch (const Error&) {
        }
        throw;
    }
    return out;
}

void down(const std::string& bridge, const std::string& address) {
    LeaseDir dir(bridge);
    Rtnl host;
    for (const auto& l : dir.list())
        if (l.address == address) {
            remove_sandbox(host, bridge, l);
            dir.remove(l.address);
        }
    if (sweep(host, dir, bridge, nullptr).empty()) remove_bridge(host, dir, bridge);
}

std::vector<std::string> collect(const std::string& bridge) {
    LeaseDir dir(bridge);
    Rtnl host;
    std::vector<std::string> removed;
    if (sweep(host, dir, bridge, &removed).empty()) {
        if (host.link_index(bridge) != 0 || !removed.empty()) removed.push_back(bridge + " bridge and NAT");
        remove_bridge(host, dir, bridge);
    }
    return removed;
}

std::vector<std::string> known_bridges() {
    std::vector<std::string> out;
    DIR* d = ::opendir("/run/caisson/net");
    if (!d) return out;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    ::closedir(d);
    return out;
}

}  // namespace caisson::net
