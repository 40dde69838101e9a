#include "mech/self_exe.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {
namespace {

// The binary from a read-only bind, made from /proc/self/exe (not a path, so that nothing can
// be swapped in between) and left detached (no mount namespace sees it).
void reexec_from_read_only_bind(char** argv, char** envp) {
    kernel::Fd tree(kernel::open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!tree) return;
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (kernel::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr) < 0) return;
    ::syscall(SYS_execveat, tree.get(), "", argv, envp, AT_EMPTY_PATH);
}

// The binary copied into a memfd sealed against every change, as runc does without root.
void reexec_from_sealed_memfd(char** argv, char** envp) {
    kernel::Fd src(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!src) return;
    struct stat st{};
    if (::fstat(src.get(), &st) < 0) return;
    kernel::Fd copy(static_cast<int>(::syscall(SYS_memfd_create, "caisson", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
    if (!copy) return;
    for (off_t done = 0; done < st.st_size;) {
        ssize_t n = ::sendfile(copy.get(), src.get(), nullptr, static_cast<size_t>(st.st_size - done));
        if (n <= 0) return;
        done += n;
    }
    if (::fcntl(copy.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) return;
    ::syscall(SYS_execveat, copy.get(), "", argv, envp, AT_EMPTY_PATH);
}

}  // namespace

bool self_exe_is_protected() {
    struct statvfs vfs{};
    if (::statvfs("/proc/self/exe", &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) return true;
    kernel::Fd exe(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    int seals = exe ? ::fcntl(exe.get(), F_GET_SEALS) : -1;
    return seals >= 0 && (seals & F_SEAL_WRITE);
}

bool self_exe_writable_by(uid_t uid) {
    if (self_exe_is_protected()) return false;
    struct stat st{};
    if (::stat("/proc/self/exe", &st) < 0) return true;  // unknown: assume the worst
    return uid == 0 || st.st_uid == uid || (st.st_mode & S_IWOTH);
}

bool self_exe_is_safe() {
    if (self_exe_is_protected()) return true;
    // An ordinary user running a root-owned binary: the sandbox gets no more than it has.
    return ::faccessat(AT_FDCWD, "/proc/self/exe", W_OK, AT_EACCESS) != 0;
}

void reexec_from_protected_copy(char** argv, char** envp) {
    if (::geteuid() == 0) reexec_from_read_only_bind(argv, envp);
    reexec_from_sealed_memfd(argv, envp);
}

}  // namespace caisson::mech
