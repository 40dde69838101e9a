// Thin wrappers for the system calls glibc 2.36 does not wrap (or wraps in headers that
// clash with <linux/mount.h>). They return what the kernel returns and set errno.
#pragma once

#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/types.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>

// Debian 12's kernel headers predate these (Linux 6.6); the running kernel may have them.
#include <linux/seccomp.h>
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace caisson::kernel {

inline long clone3(clone_args* args) { return ::syscall(SYS_clone3, args, sizeof(*args)); }

inline int pidfd_send_signal(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

inline int openat2(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
    open_how how{};
    how.flags = flags;
    how.resolve = resolve;
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof(how)));
}

// The ids of the calling thread alone, by the system call itself. After a raw clone the child
// has one thread, but the C library's list of threads is still the parent's (a library
// caller's, Python's, has several), and its setresuid/setresgid/setgroups would signal
// those threads and wait for them forever (nptl's setxid). caisson's children are single-
// threaded, so the thread's ids are the process's.
inline int set_res_uid(uid_t r, uid_t e, uid_t s) { return static_cast<int>(::syscall(SYS_setresuid, r, e, s)); }
inline int set_res_gid(gid_t r, gid_t e, gid_t s) { return static_cast<int>(::syscall(SYS_setresgid, r, e, s)); }
inline int set_groups(size_t n, const gid_t* list) { return static_cast<int>(::syscall(SYS_setgroups, n, list)); }

inline int open_tree(int dirfd, const char* path, unsigned flags) {
    return static_cast<int>(::syscall(SYS_open_tree, dirfd, path, flags));
}

inline int move_mount(int from_dirfd, const char* from_path, int to_dirfd, const char* to_path,
                      unsigned flags) {
    return static_cast<int>(
        ::syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags));
}

inline int fsopen(const char* fstype, unsigned flags) {
    return static_cast<int>(::syscall(SYS_fsopen, fstype, flags));
}

inline int fsconfig(int fsfd, unsigned cmd, const char* key, const void* value, int aux) {
    return static_cast<int>(::syscall(SYS_fsconfig, fsfd, cmd, key, value, aux));
}

inline int fsmount(int fsfd, unsigned flags, unsigned attr_flags) {
    return static_cast<int>(::syscall(SYS_fsmount, fsfd, flags, attr_flags));
}

inline int mount_setattr(int dirfd, const char* path, unsigned flags, mount_attr* attr) {
    return static_cast<int>(::syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof(*attr)));
}

inline int pivot_root(const char* new_root, const char* put_old) {
    return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}

inline int close_range(unsigned first, unsigned last, unsigned flags) {
    return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}

// waitid with the rusage argument that glibc's wrapper hides.
inline int waitid_rusage(idtype_t type, id_t id, siginfo_t* info, int options, struct rusage* ru) {
    return static_cast<int>(::syscall(SYS_waitid, type, id, info, options, ru));
}

}  // namespace caisson::kernel
