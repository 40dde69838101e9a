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

// The first process in the pid namespace at `pidns_path` whose bounding set holds
// CAP_SYS_PTRACE (so that it holds it or could gain it, by an exec) and whose user namespace
// is one of `userns_paths`; 0 when none. Reads the host's /proc. Throws caisson::Error when
// the namespace cannot be read.
pid_t ptracer_in(const std::string& pidns_path, const std::vector<std::string>& userns_paths);

}  // namespace caisson::mech
