// A minimal /dev: null, zero, full, random, urandom, tty bound from the host (mknod is not
// allowed in a user namespace), a private devpts instance, shm, and the usual links.
#pragma once

#include "kernel/failure.hpp"

namespace caisson::mech {

inline constexpr int kDevNodeCount = 6;

struct DevSources {
    int nodes[kDevNodeCount] = {-1, -1, -1, -1, -1, -1};
    ~DevSources();
};

// Clones the host's device nodes; must run before the new root hides the host's /dev.
bool open_dev_sources(DevSources& src, kernel::Failure& f);

// Mounts the minimal /dev at `dev` inside `root`, then makes it read-only (pts, shm stay writable).
bool build_dev(int root, DevSources& src, kernel::Failure& f);

}  // namespace caisson::mech
