// The copy-on-write root: OverlayFS with the rootfs as lower layer and a tmpfs (or a kept
// directory) as upper layer.
//
// As root, the supervisor builds the overlay as a detached mount in the host's context and
// the sandbox attaches it: copy-up then works for files of any owner (it runs with the
// mounter's credentials), while the program keeps the rights of its own unprivileged host
// uid (it cannot read /etc/shadow or write /etc, but can write where that uid may, such as
// /var/tmp). As an ordinary user, the sandbox's init mounts it inside its user namespace,
// over a rootfs the user owns.
#pragma once

#include <string>

#include "kernel/fd.hpp"
#include "kernel/failure.hpp"

namespace caisson::mech {

struct OverlayPlan {
    bool enabled = false;
    int prebuilt_root = -1;      // as root: the detached overlay the supervisor built
    std::string lowerdir;        // the rootfs
    std::string upper_base;      // --overlay-upper: a host dir holding upper/ and work/
    std::string upperdir, workdir;
    std::string size_option;     // "size=N" for the tmpfs upper, or empty
};

// Supervisor side (root): the detached overlay. Throws caisson::Error.
kernel::Fd build_overlay_as_root(const OverlayPlan& plan, const std::string& rootfs);

// Child side (rootless): mounts a staging tmpfs over "/" of the private namespace (so no host
// directory is touched), builds the overlay from it, returns its detached mount or -1.
int make_overlay_in_userns(const OverlayPlan& plan, kernel::Failure& f);

// Whether an overlay can be made in a user namespace of this user's, as `--overlay` makes
// it without root: tried in a child on a scratch tmpfs. "" when it can, else why not.
std::string overlay_in_userns_unavailable();

}  // namespace caisson::mech
