// Small building blocks over the new mount API, shared by the filesystem mechanisms. Each
// returns a descriptor or -1 with errno set; none allocates (they run in the child).
#pragma once

#include "kernel/syscalls.hpp"

#include <fcntl.h>

namespace caisson::mech {

// A detached new filesystem: fsopen + the given string options + create + fsmount.
// `options` is a null-terminated array of "key" or "key=value" C strings (may be null).
// `source` is what mountinfo shows in its source field (default: the type's name, as
// mount(8) and runc leave it for proc, sysfs, tmpfs and their kind).
int new_fs(const char* type, const char* const* options, unsigned mount_attrs, const char* source = nullptr);

// Resolves `path` inside `root` without following anything out of it (RESOLVE_IN_ROOT).
int open_in_root(int root, const char* path, int flags);

// Mounts the detached mount `mnt` on `target` (a descriptor from open_in_root).
int attach(int mnt, int target);

// Attaches a fresh clone of the mount `mnt` alone (attached, or detached on Linux 6.15 and
// later): not what is mounted on or beneath it.
int attach_clone(int mnt, int target);

// Changes attributes of a mount (and, with recursive, of everything below it).
int set_attrs(int mnt, unsigned long long set, unsigned long long clear, bool recursive);

}  // namespace caisson::mech
