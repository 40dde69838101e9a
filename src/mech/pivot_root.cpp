#include "mech/pivot_root.hpp"

#include "kernel/syscalls.hpp"

#include <sys/mount.h>
#include <unistd.h>

namespace caisson::mech {

bool enter_new_root(int root, bool chroot_only, const char* what, kernel::Failure& f) {
    if (::fchdir(root) < 0) return f.set("chdir to new root", what);
    if (chroot_only) {
        if (::chroot(".") < 0) return f.set("chroot", what);
    } else {
        if (kernel::pivot_root(".", ".") < 0) return f.set("pivot_root", what);
        if (::umount2(".", MNT_DETACH) < 0) return f.set("detach old root", "/");
    }
    // Into the new root by its descriptor, never by a name.
    if (::fchdir(root) < 0) return f.set("chdir", "/");
    return true;
}

}  // namespace caisson::mech
