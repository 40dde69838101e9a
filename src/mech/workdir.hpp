// The working directory, resolved inside the process's own root (CVE-2024-21626).
#pragma once

#include "kernel/failure.hpp"

namespace caisson::mech {

// Opens `path` below the current root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS),
// so neither `..` nor a symlink nor a /proc/self/fd/N or /proc/PID/cwd link leads out of it.
// Call it with no host descriptor open. Returns an O_PATH descriptor, or -1 (f says why).
int open_workdir(const char* path, kernel::Failure& f);

// fchdir to `dir` (from open_workdir), then checks what the kernel says of the result: a
// working directory outside the root has no path from it (getcwd fails or is not absolute),
// and is refused. No allocation.
bool enter_workdir(int dir, const char* path, kernel::Failure& f);

// Both, for a process that already holds its final identity.
bool enter_workdir(const char* path, kernel::Failure& f);

}  // namespace caisson::mech
