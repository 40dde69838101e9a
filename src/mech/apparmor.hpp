// AppArmor: the profile an OCI config names (process.apparmorProfile), taken at the
// program's exec, as runc does. caisson's own confinement is Landlock and seccomp; this is
// for the host's policy, which containerd's CRI and Docker ask for on AppArmor hosts.
#pragma once

#include "kernel/failure.hpp"

#include <string>

namespace caisson::mech {

// The kernel runs AppArmor (/sys/module/apparmor/parameters/enabled is "Y").
bool apparmor_enabled();

// Names `profile` for the calling thread's next exec, through /proc/thread-self/attr
// (apparmor/exec, or the older exec): the /proc of the process's own mount namespace, which
// must be procfs (CVE-2019-16884: an image's volume over /proc would take the write, and the
// profile would silently not apply). Allocation-free after the path is known.
bool set_apparmor_exec_profile(const std::string& profile, kernel::Failure& f);

}  // namespace caisson::mech
