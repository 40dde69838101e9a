// The egress policy as the kernel's programs get it (mech/egress): --deny-private's rules
// with the local destinations of the namespaces where the sandbox's traffic could reach the
// host added, read when the sandbox starts. For `caisson run` and `caisson-oci` alike.
#pragma once

#include <caisson/policy.hpp>

#include <string>

namespace caisson::run {

// `e`, and with --deny-private the caller's namespace's local destinations (the host's
// addresses) where `reaches_host` (--net host shares that namespace, --net user's pasta
// connects from it, a joined or an OCI container's namespace may route to it; a namespace of
// lo alone cannot, and --net veth's bridge drops what is new toward the host) and, when the
// sandbox joins the namespace at `joined_netns` (a path, or ""), that one's. Addresses taken
// later are not among them (docs/run.md). Throws caisson::Error naming the step, and
// Error::usage when the rules would be more than the filter holds.
Egress kernel_egress_rules(const Egress& e, bool reaches_host, const std::string& joined_netns);

}  // namespace caisson::run
