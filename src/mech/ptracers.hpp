// Who could trace a process that enters a pid namespace. A process that sees it there (in
// that namespace, one below it, or through a descriptor of its /proc) and that holds, or
// could gain, CAP_SYS_PTRACE in the newcomer's user namespace (or an ancestor) passes over
// non-dumpability: it may ptrace the newcomer, and open its /proc/PID/root. A container's init joins another container's pid namespace
// (Kubernetes' shareProcessNamespace, Docker's --pid container:) while it is still the
// runtime's: the host's root, every capability, before its pivot. runc has the same opening
// (its fix for CVE-2016-9962 named it and left it); caisson-oci refuses instead.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace caisson::mech {

// The first process outside the host's pid namespace (a container's, in any pid namespace
// below the host's) one of whose threads holds CAP_SYS_PTRACE, or could gain it by an exec
// (its bounding set, without no_new_privs), without holding CAP_SYS_ADMIN already, and whose
// user namespace is one of `userns_paths`; 0 when none. Not only the namespace joined: a process of a pid namespace below it still sees its
// /proc, and any container's process can be handed a descriptor of that /proc over a shared
// volume and open /proc/PID/root there (a review's attack run did both). Reads the host's
// /proc; a process that cannot be read counts (fail closed). Throws caisson::Error.
pid_t ptracer_in(const std::vector<std::string>& userns_paths);

}  // namespace caisson::mech
