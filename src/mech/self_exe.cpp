#include "mech/self_exe.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace caisson::mech {

bool self_exe_is_safe() {
    struct statvfs st{};
    if (::statvfs("/proc/self/exe", &st) == 0 && (st.f_flag & ST_RDONLY)) return true;
    // An ordinary user running a root-owned binary: the container gets no more than it has.
    return ::faccessat(AT_FDCWD, "/proc/self/exe", W_OK, AT_EACCESS) != 0;
}

void reexec_from_read_only_bind(char** argv, char** envp) {
    // The bind is made from /proc/self/exe, not from a path, so that nothing can be swapped
    // in between; it stays detached (no mount namespace sees it).
    kernel::Fd tree(kernel::open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!tree) return;
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (kernel::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr) < 0) return;
    ::syscall(SYS_execveat, tree.get(), "", argv, envp, AT_EMPTY_PATH);
}

}  // namespace caisson::mech
