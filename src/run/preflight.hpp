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
LaunchPlan build_plan(const Policy& policy, uid_t caller_uid, gid_t caller_gid, bool learn_traced = false);

}  // namespace caisson::run
