// AppArmor: the profile an OCI config names (process.apparmorProfile), taken at the
// program's exec, as runc does. caisson's own confinement is Landlock and seccomp; this is
// for the host's policy, which containerd's CRI and Docker ask for on AppArmor hosts.
#pragma once

#include "kernel/failure.hpp"

#include <string>

namespace caisson::mech {

// The kernel runs AppArmor (/sys/module/apparmor/parameters/enabled is "Y").
bool apparmor_enabled();

// Names `profile` for the calling thread's next exec, through thread-self/attr (apparmor/exec,
// or the older exec) beneath the procfs root of the process's own /proc, checked to be that
// root and resolved without crossing a mount or a magic link (CVE-2019-16884: a volume over
// /proc, or a procfs file elsewhere, would take the write and the profile would silently not
// apply). Allocation-free.
bool set_apparmor_exec_profile(const std::string& profile, kernel::Failure& f);

}  // namespace caisson::mech
