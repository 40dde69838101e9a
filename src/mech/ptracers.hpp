// Who could trace a process that enters a pid namespace. A process of that namespace whose
// user namespace is the new process's own (or an ancestor of it) and that holds, or could
// gain, CAP_SYS_PTRACE there passes over non-dumpability: it may ptrace the newcomer, and
// open its /proc/PID/root. A container's init joins another container's pid namespace
// (Kubernetes' shareProcessNamespace, Docker's --pid container:) while it is still the
// runtime's: the host's root, every capability, before its pivot. runc has the same opening
// (its fix for CVE-2016-9962 named it and left it); caisson-oci refuses instead.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace caisson::mech {

// The first process in the pid namespace at `pidns_path` one of whose threads has
// CAP_SYS_PTRACE in its bounding set (so that it holds it or could gain it, by an exec) and
// whose user namespace is one of `userns_paths`; 0 when none. Reads the host's /proc; a
// process that cannot be read counts (fail closed). Throws caisson::Error when the
// namespace cannot be read. Checked once, before the init is made: what enters the namespace
// later comes through the runtime alone. Not covered: a process of a pid namespace below
// that one that still sees its /proc, or one elsewhere handed a descriptor of that /proc
// (docs/oci.md).
pid_t ptracer_in(const std::string& pidns_path, const std::vector<std::string>& userns_paths);

}  // namespace caisson::mech
