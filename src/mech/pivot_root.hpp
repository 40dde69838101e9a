// Entering the new root, the last step of building one, for every face: pivot_root(".", ".")
// stacks the old root on the new one, and detaching it leaves only the new tree, with no
// directory of the old root needed inside the new one.
#pragma once

#include "kernel/failure.hpp"

namespace caisson::mech {

// `root`: the new root's directory. With `chroot_only` (caisson-oci --no-pivot, a root on
// ramfs, where pivot_root fails) the old root stays below, stacked. `what` names the root in errors.
bool enter_new_root(int root, bool chroot_only, const char* what, kernel::Failure& f);

}  // namespace caisson::mech
