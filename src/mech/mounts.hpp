// The sandbox's root: the rootfs (or an overlay over it) bound read-only, fresh /proc,
// /sys, a minimal /dev, /tmp, the user's mounts in order, the masks, then pivot_root.
// Every target inside the new root is resolved with RESOLVE_IN_ROOT.
#pragma once

#include <string>
#include <vector>

#include "mech/overlay.hpp"
#include "run/failure.hpp"
#include "run/plan.hpp"

namespace caisson::mech {

// Runs in the child, in its own mount namespace. On return the process's root is the
// sandbox's root and the host's tree is detached.
bool build_root(run::LaunchPlan& plan, run::Failure& f);

// Opens `path` inside `root` (O_PATH); when it is missing, creates it (a directory, or an
// empty file when !dir) and its missing parents, each resolved inside the root.
int open_or_create(int root, const char* path, bool dir, run::Failure& f);

// Hides each masked path (/dev/null over a file, an empty read-only tmpfs over a directory)
// and re-binds each read-only path read-only; missing ones are skipped. Last, so that no
// later mount can uncover them.
bool mask_paths(int root, const std::vector<std::string>& masked, const std::vector<std::string>& readonly,
                run::Failure& f);

}  // namespace caisson::mech
