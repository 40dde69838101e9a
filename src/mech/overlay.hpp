// The copy-on-write root: OverlayFS with the rootfs as lower layer and a tmpfs (or a kept
// directory) as upper layer.
#pragma once

#include "run/failure.hpp"
#include "run/plan.hpp"

namespace caisson::mech {

// Descriptors the supervisor made for the overlay when it runs as root: clones of the
// rootfs and of --overlay-upper, idmapped to the sandbox's user namespace, so that the
// host's root-owned files belong to the sandbox's root and copy-up can keep their owner.
struct OverlayFds {
    int lower = -1;
    int upper = -1;
};

// Prepares, in the supervisor, the idmapped clones the plan asks for. Throws caisson::Error.
OverlayFds prepare_overlay_idmaps(const run::OverlayPlan& plan, const char* rootfs, int userns_fd);

// In the child: mounts a staging tmpfs over "/" (so no host directory is touched), builds
// the overlay from it and returns the overlay's detached mount, or -1.
int make_overlay_root(const run::OverlayPlan& plan, bool in_userns, OverlayFds fds, run::Failure& f);

}  // namespace caisson::mech
