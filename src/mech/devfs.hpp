// A minimal /dev: null, zero, full, random, urandom, tty bound from the host (mknod is not
// allowed in a user namespace), a private devpts instance, shm, and the usual links.
#pragma once

#include "kernel/failure.hpp"

namespace caisson::mech {

inline constexpr int kDevNodeCount = 6;

inline constexpr int kMaxExtraDevNodes = 4;

// A host character device beside the six: its name in /dev and its numbers.
struct ExtraDevNode {
    const char* name = nullptr;
    unsigned major = 0, minor = 0;
};

struct DevSources {
    int nodes[kDevNodeCount] = {-1, -1, -1, -1, -1, -1};
    int extra[kMaxExtraDevNodes] = {-1, -1, -1, -1};
    ExtraDevNode extra_nodes[kMaxExtraDevNodes];
    int n_extra = 0;
    ~DevSources();
};

// Clones the host's device nodes, and `extra` (at most kMaxExtraDevNodes, each /dev/NAME on
// the host, which must be that character device); must run before the new root hides the
// host's /dev. No allocation (it runs after clone).
bool open_dev_sources(DevSources& src, const ExtraDevNode* extra, int n_extra, kernel::Failure& f);

// Mounts the minimal /dev at `dev` inside `root`, then makes it read-only (pts, shm stay writable).
bool build_dev(int root, DevSources& src, kernel::Failure& f);

}  // namespace caisson::mech
