// Which clone flags a policy asks for, and their names for the report.
#pragma once

#include <caisson/policy.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace caisson::mech {

// Flags for clone3. The time namespace is not among them: its offsets can only be written
// before any process enters it, so init unshares it and its child (the program) enters.
uint64_t clone_flags(const Namespaces& ns);

std::vector<std::string> namespace_names(const Namespaces& ns);

// Why the kernel refused new namespaces with `err` (clone3's or unshare's errno), measured
// from what this host says: user.max_user_namespaces, Ubuntu's AppArmor restriction,
// Debian's older unprivileged_userns_clone, a seccomp filter on this process (a container
// runtime's), or the plain errno. One line, with the fix where there is one.
std::string explain_namespace_refusal(int err, uint64_t flags, bool as_root);

// Tries `flags` (CLONE_NEW*; the user namespace first when it has CLONE_NEWUSER) in a child
// of this process, as `uid` when it is not -1 (root only): "" when they can be made,
// otherwise why not (explain_namespace_refusal).
std::string namespaces_unavailable(uint64_t flags, int uid = -1);

}  // namespace caisson::mech
