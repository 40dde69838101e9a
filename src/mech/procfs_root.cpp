#include "mech/procfs_root.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace caisson::mech {

int open_procfs_root(const char* purpose, kernel::Failure& f) {
    kernel::Fd proc(kernel::open_tree(AT_FDCWD, "/proc", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW));
    if (!proc) proc.reset(::open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct statfs fs{};
    struct stat st{};
    if (!proc || ::fstatfs(proc.get(), &fs) < 0 || ::fstat(proc.get(), &st) < 0) return f.set("open", purpose), -1;
    if (fs.f_type != PROC_SUPER_MAGIC || st.st_ino != 1) return f.set("not the procfs root", purpose, EXDEV), -1;
    return proc.release();
}

}  // namespace caisson::mech
