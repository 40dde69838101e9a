// A device node inside a new root, for every face: made with mknod where the kernel lets us
// (no user namespace of our own), or the host's node bound over an empty file (mknod is
// refused in a user namespace). A bound node is checked to be the device it was asked as
// (on the clone itself, after any symlink):
// a path that names another file on the host is refused, never bound.
#pragma once

#include "kernel/failure.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace caisson::mech {

struct DeviceSpec {
    char type = 'c';  // 'c', 'b', or 'p' (a FIFO: made, never bound)
    int64_t major = 0, minor = 0;
};

// The host's node at `host_path`, as a detached mount (open_tree), nosuid and noexec; an
// error unless it is that device. Before the new root hides the host's /dev.
int open_host_device(const char* host_path, const DeviceSpec& d, kernel::Failure& f);

// Binds `node` (from open_host_device) over a new empty file `name` in `dir`; `what` names
// it in errors (its path in the new root).
bool place_host_device(int dir, const char* name, int node, const char* what, kernel::Failure& f);

// mknod of `name` in `dir`, then its mode and owner.
bool make_device_node(int dir, const char* name, const DeviceSpec& d, mode_t mode, std::optional<uid_t> uid,
                      std::optional<gid_t> gid, const char* what, kernel::Failure& f);

}  // namespace caisson::mech
