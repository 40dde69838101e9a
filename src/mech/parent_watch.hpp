// --die-with-parent: the calling process's parent, watched through a pidfd that the caller
// polls with its other descriptors (readable once the parent has ended). Not the kernel's
// parent-death signal: that kills outright (no teardown: the cgroup, lease and overlay stay
// for `caisson gc`), follows the parent *thread*, and in a process with threads is taken by
// whichever thread does not block it.
#pragma once

#include "kernel/fd.hpp"

namespace caisson::mech {

// The parent's pidfd. A parent outside this pid namespace (getppid() is 0) has none here:
// then the parent-death signal (SIGKILL) is set instead, and an empty Fd returned. Throws
// caisson::Error naming the step when the parent is already gone or the kernel refuses.
kernel::Fd watch_parent();

// Whether the parent watched by `pidfd` has ended; false for an empty one.
bool parent_ended(int pidfd);

}  // namespace caisson::mech
