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
#include <climits>
#include <cstring>
#include <string>
#include <vector>

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
    // MFD_EXEC where vm.memfd_noexec would otherwise seal it against exec; kernels before
    // 6.3 know no such flag (EINVAL) and make every memfd executable.
    constexpr unsigned kMfdExec = 0x0010U;
    kernel::Fd copy(static_cast<int>(::syscall(SYS_memfd_create, "caisson", MFD_CLOEXEC | MFD_ALLOW_SEALING | kMfdExec)));
    if (!copy && errno == EINVAL) copy.reset(static_cast<int>(::syscall(SYS_memfd_create, "caisson", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
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

bool self_exe_writable_by(uid_t uid, gid_t gid) {
    if (self_exe_is_protected()) return false;
    // What the caller cannot write with every capability it has, no id it hands out can: a
    // sandbox's ids are among its namespace's, and capabilities there reach only files whose
    // owner is mapped there. So root of a namespace that does not map the binary's owner
    // (`unshare -r`: the file shows the overflow id, 65534, the same as nobody's) is not
    // mistaken for an owner.
    if (::faccessat(AT_FDCWD, "/proc/self/exe", W_OK, AT_EACCESS) != 0)
        return errno != EACCES && errno != EPERM && errno != EROFS;  // unknown: assume the worst
    if (::geteuid() != 0) return true;
    struct stat st{};
    if (::stat("/proc/self/exe", &st) < 0) return true;  // unknown: assume the worst
    return uid == 0 || st.st_uid == uid || (st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && (gid == 0 || st.st_gid == gid));
}

bool self_exe_is_safe() {
    if (self_exe_is_protected()) return true;
    // An ordinary user running a root-owned binary: the sandbox gets no more than it has.
    return ::faccessat(AT_FDCWD, "/proc/self/exe", W_OK, AT_EACCESS) != 0;
}

void reexec_from_protected_copy(char** argv, char** envp) {
    // The copy has no path of its own: where the binary was goes along, so that companions
    // installed beside it (caisson-net) are still found (mech/companion).
    std::vector<std::string> kept;
    for (char** e = envp; e && *e; ++e)
        if (std::strncmp(*e, kReexecFromVar, std::strlen(kReexecFromVar)) != 0 || (*e)[std::strlen(kReexecFromVar)] != '=')
            kept.emplace_back(*e);
    char self[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) kept.push_back(std::string(kReexecFromVar) + "=" + std::string(self, static_cast<size_t>(n)));
    std::vector<char*> env;
    for (auto& e : kept) env.push_back(e.data());
    env.push_back(nullptr);
    if (::geteuid() == 0) reexec_from_read_only_bind(argv, env.data());
    reexec_from_sealed_memfd(argv, env.data());
}

}  // namespace caisson::mech
