// --die-with-parent: the calling process's parent, watched through a pidfd that the caller
// polls with its other descriptors (readable once the parent has ended). Not the kernel's
// parent-death signal: that kills outright (no teardown: the cgroup, lease and overlay stay
// for `caisson gc`), follows the parent *thread*, and in a process with threads is taken by
// whichever thread does not block it.
#pragma once

#include "kernel/fd.hpp"

namespace caisson::mech {

class ParentWatch {
public:
    // Nothing is watched unless `wanted`. A parent outside this pid namespace (getppid() is
    // 0) has no pidfd here: then the parent-death signal (SIGKILL) is set instead, for the
    // watch's lifetime only. Throws caisson::Error naming the step when the parent is
    // already gone or the kernel refuses.
    explicit ParentWatch(bool wanted);
    ~ParentWatch();
    ParentWatch(const ParentWatch&) = delete;
    ParentWatch& operator=(const ParentWatch&) = delete;
    int fd() const { return pidfd_ ? pidfd_.get() : -1; }  // -1: nothing to poll
    // Whether the parent has ended (looked at now, without waiting).
    bool ended() const;
    void forget() { pidfd_.reset(); }  // seen ended: not polled again

private:
    kernel::Fd pidfd_;
    bool by_signal_ = false;
};

}  // namespace caisson::mech
