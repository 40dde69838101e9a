// The library face, first half: a program restricts itself once its privileged start-up is
// done (files and sockets opened). The same policy model and TOML as `caisson run`.
#pragma once

#include <caisson/policy.hpp>
#include <caisson/seccomp.hpp>

#include <string>
#include <vector>

namespace caisson {

struct SelfPolicy {
    // Installed with SECCOMP_FILTER_FLAG_TSYNC: every thread of the process is covered.
    seccomp::Policy seccomp;
    // SECCOMP_MODE_STRICT instead (read, write, _exit, sigreturn; the calling thread only,
    // so the process must have no other thread).
    bool strict = false;
    // Landlock applies to the calling thread and the threads and processes it creates
    // later: restrict_self refuses Landlock rules while other threads exist.
    Landlock landlock;
    // Capabilities kept in every set (CAP_* numbers); all others are dropped.
    std::vector<int> capabilities;
};

struct SelfReport {
    std::vector<std::string> applied;
    std::vector<std::string> not_enforced;  // Landlock best effort
};

// A SelfPolicy from a run profile's keys (seccomp, cap-add, landlock-*): one schema.
SelfPolicy self_policy_from_profile(const std::string& name_or_file);

// Sets no_new_privs, drops capabilities, applies Landlock, then seccomp (last). Throws
// caisson::Error naming the step that could not be applied; fails closed.
SelfReport restrict_self(const SelfPolicy& policy);

}  // namespace caisson
