// The one place a sandbox's first process is cloned, for every face: `caisson run`'s init,
// an OCI container's init, and the process `caisson-oci exec` starts in a container.
// clone3 with a pidfd, born in the sandbox's cgroup (CLONE_INTO_CGROUP) where that is asked;
// where clone3 is refused with ENOSYS (a container's seccomp profile, Docker's for one, says
// so to make the C library fall back) it falls back to clone(2) as the C library does, and
// the cgroup is then the caller's to join.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <cstdint>

namespace caisson::mech {

struct CloneRequest {
    uint64_t flags = 0;        // CLONE_NEW*, CLONE_PARENT, ...
    int cgroup_fd = -1;        // a cgroup v2 directory to be born in, or -1
    int exit_signal = SIGCHLD; // 0 with CLONE_PARENT (the parent's own is used)
    bool want_pidfd = true;
    // clone(2) at once, for a caller under a filter the config wrote, which may refuse clone3
    // with any errno (older profiles say EPERM, not ENOSYS): no cgroup_fd then.
    bool plain_clone = false;
};

// Filled in both processes (the child reads it from its copy of the caller's memory).
struct Cloned {
    long pid = -1;            // 0 in the child
    int pidfd = -1;           // the parent's; owned by the caller
    bool into_cgroup = false; // born in cgroup_fd: nothing left to join
    // The fallback dropped CLONE_NEWCGROUP (a cgroup namespace made before the cgroup is
    // joined would be rooted in the wrong place): the child makes it once it is in.
    bool cgroupns_after_join = false;
};

// Returns false with errno in the parent when no process could be made. Never throws and
// never allocates: it may run in a forked helper.
bool clone_process(const CloneRequest& r, Cloned& out);

// A short-lived copy of this process for a step the caller cannot take itself (entering a
// namespace is for a process of one thread). It signals nothing when it ends (a library
// caller that ignores SIGCHLD would have the kernel reap it first) and runs none of the
// caller's handlers: every signal is blocked across the clone, and stays blocked in the copy.
// The copy runs `body(arg)`, which may make system calls only (the caller may have threads),
// and exits with what it returned. Returns the copy's pidfd, or -1 with errno.
int clone_quiet(int (*body)(void*), void* arg);

// Waits for a copy made by clone_quiet and closes its pidfd: its exit status (0 to 255), or
// -1 when it ended some other way (EIO) or the wait failed (errno).
int wait_quiet(int pidfd);

}  // namespace caisson::mech
