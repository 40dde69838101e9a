// The procfs root of the calling process's /proc, checked, for writes that must reach the
// kernel's own files (sysctls, AppArmor's exec attr): a clone of the procfs mount alone where
// this process may make one, so that nothing mounted over its subtrees (a read-only /proc/sys
// of a host that runs us in a container, or anything mounted there to redirect us) comes
// along; else /proc itself, never through a symlink. It must be a procfs and its root (inode
// 1). Open what is beneath it with openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV | ...).
#pragma once

#include "kernel/failure.hpp"

namespace caisson::mech {

// -1 with `f` set ("not the procfs root", EXDEV, naming `purpose`) when it is not.
int open_procfs_root(const char* purpose, kernel::Failure& f);

}  // namespace caisson::mech
