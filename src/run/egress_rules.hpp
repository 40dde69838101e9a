// The egress policy as the kernel's programs get it (mech/egress): --deny-private's rules
// with the local destinations of the namespaces where the sandbox's traffic could reach the
// host added, read when the sandbox starts. For `caisson run` and `caisson-oci` alike.
#pragma once

#include <caisson/policy.hpp>

#include <string>

namespace caisson::run {

// `e`, and with --deny-private the caller's namespace's local destinations (the host's
// addresses: where --net host shares it, and where --net user's pasta and --net veth's
// bridge reach it) and, when the sandbox joins the namespace at `joined_netns` (a path, or
// ""), that one's. Addresses the host takes later are not among them (docs/run.md).
// Throws caisson::Error naming the step.
Egress kernel_egress_rules(const Egress& e, const std::string& joined_netns);

}  // namespace caisson::run
