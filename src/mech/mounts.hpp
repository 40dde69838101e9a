// The sandbox's root: the rootfs (or an overlay over it) bound read-only, fresh /proc,
// /sys, a minimal /dev, /tmp, the user's mounts in order, the masks, then pivot_root.
// Every target inside the new root is resolved with RESOLVE_IN_ROOT.
#pragma once

#include "mech/overlay.hpp"
#include "run/failure.hpp"
#include "run/plan.hpp"

namespace caisson::mech {

// Runs in the child, in its own mount namespace. On return the process's root is the
// sandbox's root and the host's tree is detached.
bool build_root(run::LaunchPlan& plan, run::Failure& f);

}  // namespace caisson::mech
