#include "run/egress_rules.hpp"

#include "filter/egress_program.hpp"
#include "kernel/fd.hpp"
#include "mech/local_routes.hpp"
#include "policy/net_address.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>

#include <cerrno>

namespace caisson::run {

Egress kernel_egress_rules(const Egress& e, bool reaches_host, const std::string& joined_netns) {
    Egress out = e;
    if (out.deny.empty()) return out;
    const size_t before = out.allow.size() + out.deny.size();
    if (reaches_host) net_address::deny_local(out, mech::local_destinations(-1));
    if (!joined_netns.empty()) {
        kernel::Fd ns(::open(joined_netns.c_str(), O_RDONLY | O_CLOEXEC));
        if (!ns) throw Error(ErrorKind::Setup, "--deny-private: open the network namespace", joined_netns, errno);
        net_address::deny_local(out, mech::local_destinations(ns.get()));
    }
    const size_t all = out.allow.size() + out.deny.size();
    if (all > egress::kMaxRules)
        throw Error::usage("--deny-private: the host has " + std::to_string(all - before) +
                           " addresses and local prefixes of its own outside the private ranges, which with the other rules "
                           "are more than the egress filter holds (" + std::to_string(egress::kMaxRules) +
                           "); use --net veth, whose bridge keeps the host out, or --allow-connect's list alone");
    return out;
}

}  // namespace caisson::run
