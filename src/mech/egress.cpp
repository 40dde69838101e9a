#include "mech/egress.hpp"

#include "filter/egress_program.hpp"
#include "mech/ebpf.hpp"
#include "policy/net_address.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace caisson::mech {

EgressFilter::EgressFilter(int cgroup_fd, const Egress& policy)
    : map_(create_bpf_array(sizeof(egress::Record), egress::kMapEntries, "caisson_egress")) {
    for (egress::Hook h : egress::kHooks) {
        std::string what = std::string("egress filter (") + egress::hook_name(h) + ")";
        kernel::Fd prog = load_bpf_program(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, egress::attach_type(h),
                                           egress::program(policy, h, map_.get()), "caisson_egress", what);
        attach_bpf_program(cgroup_fd, prog.get(), egress::attach_type(h), 0, what);
        hooks_.emplace_back(egress::hook_name(h));
    }
    kernel::Fd raw = load_bpf_program(BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE,
                                      egress::sock_create_program(), "caisson_sock", "egress filter (sock_create)");
    attach_bpf_program(cgroup_fd, raw.get(), BPF_CGROUP_INET_SOCK_CREATE, 0, "egress filter (sock_create)");
    hooks_.emplace_back("sock_create (TCP and UDP only)");
    kernel::Fd routed = load_bpf_program(BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, egress::source_route_program(),
                                         "caisson_srcrt", "egress filter (source routes)");
    attach_bpf_program(cgroup_fd, routed.get(), BPF_CGROUP_INET_EGRESS, 0, "egress filter (source routes)");
    hooks_.emplace_back("egress (no source routes: IPv6 routing headers, IPv4 options)");
}

EgressReport EgressFilter::report() const {
    EgressReport r;
    r.hooks = hooks_;
    egress::Record first{};
    if (!bpf_lookup(map_.get(), 0, &first)) return r;
    std::memcpy(&r.denied, &first, sizeof(r.denied));
    for (uint32_t i = 1; i <= egress::kMaxRecords && i <= r.denied; ++i) {
        egress::Record rec{};
        if (!bpf_lookup(map_.get(), i, &rec)) break;
        std::string proto = rec.type == SOCK_STREAM ? "tcp" : rec.type == SOCK_DGRAM ? "udp" : "type " + std::to_string(rec.type);
        const char* hook = rec.hook < std::size(egress::kHooks) ? egress::hook_name(egress::kHooks[rec.hook]) : "?";
        r.denials.push_back(std::string(hook) + " " + proto + " " +
                            net_address::endpoint_text(rec.family == AF_INET6, rec.addr, ntohs(static_cast<uint16_t>(rec.port_be))));
    }
    return r;
}

}  // namespace caisson::mech
