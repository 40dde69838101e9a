// Checks, on the host and before anything is created, that a policy can run: paths that
// must exist, combinations the kernel would refuse. A failure here leaves nothing behind.
#pragma once

#include "run/plan.hpp"

#include <caisson/policy.hpp>

namespace caisson::run {

void preflight(const Policy& policy, bool as_root);

// Builds the plan the child follows (all strings and arrays made here, none in the child).
// `learn_traced`: in learn mode, the in-kernel recorder counts the calls (mech/learn_trace),
// and the filter notifies only those whose pointers learn reads.
// The sandbox's environment for `proc` (the base, then its operations in order).
std::vector<std::string> make_environment(const Policy& policy);

// Where caisson's egress proxy listens in the sandbox (--allow-host), on 127.0.0.1.
inline constexpr uint16_t kEgressProxyPort = 3128;

// Where execve looks for `prog`: itself when it has a slash, else along the environment's PATH.
std::vector<std::string> exec_candidates(const std::vector<std::string>& env, const std::string& prog);

LaunchPlan build_plan(const Policy& policy, uid_t caller_uid, gid_t caller_gid, bool learn_traced = false);

}  // namespace caisson::run
