#include "run/egress_rules.hpp"

#include "kernel/fd.hpp"
#include "mech/local_routes.hpp"
#include "policy/net_address.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>

#include <cerrno>

namespace caisson::run {

Egress kernel_egress_rules(const Egress& e, const std::string& joined_netns) {
    Egress out = e;
    if (out.deny.empty()) return out;
    net_address::deny_local(out, mech::local_destinations(-1));
    if (!joined_netns.empty()) {
        kernel::Fd ns(::open(joined_netns.c_str(), O_RDONLY | O_CLOEXEC));
        if (!ns) throw Error(ErrorKind::Setup, "--deny-private: open the network namespace", joined_netns, errno);
        net_address::deny_local(out, mech::local_destinations(ns.get()));
    }
    return out;
}

}  // namespace caisson::run
