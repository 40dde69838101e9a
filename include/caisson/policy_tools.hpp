// `caisson policy check POLICY` and `caisson policy test POLICY TABLE`: what a seccomp
// policy compiles to, and whether it decides a table of calls as expected. Both run the
// compiled program in caisson's BPF evaluator; nothing is installed.
#pragma once

#include <iosfwd>
#include <string>

namespace caisson {

// Returns the exit status: 0 when the policy compiles (warnings go to `err`).
int policy_check(const std::string& policy, std::ostream& out, std::ostream& err);

// TABLE lines: `[ABI:]SYSCALL [ARG...] => ACTION`, '#' starts a comment. ARGs are numbers,
// constants or `A|B`. Returns 0 when every line matches, 1 otherwise.
int policy_test(const std::string& policy, const std::string& table, std::ostream& out, std::ostream& err);

}  // namespace caisson
