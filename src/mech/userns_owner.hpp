// Who creates the sandbox's user namespace decides whose budget its counts spend. The kernel
// charges every per-user-namespace count made inside (inotify instances and watches, new
// namespaces, fanotify groups...) at each ancestor level to the uid that created the child
// namespace. A sandbox's namespace created by host root spends root's budget: one sandbox
// could exhaust inotify for every root daemon of the host. So a root-run sandbox's user
// namespace is created by the calling thread acting as ids of its own: taken from a range no
// host account uses, one per cloning thread. They are not the ids the sandbox runs as (65534
// by default): the namespace's owner has every capability in it, and a host process running
// as nobody must not be able to enter a sandbox. Each sandbox then spends a budget of its own.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace caisson::mech {

// The range: above the ranges systemd documents for users, dynamic users and containers
// (up to 0x6fffffff), below the signed limit; a thread id (at most 2^22) picks one.
inline constexpr uint32_t kUsernsOwnerBase = 0x7e000000;

// The owner for a sandbox started by the calling thread.
uint32_t userns_owner_id();

// For its lifetime, the calling thread's effective ids are `uid`/`gid` (its real and saved
// ids stay root's, so the destructor can return). Raw system calls: the C library would
// change every thread of the process, and this may be a library caller's thread.
// Dumpability and the parent-death signal, which the kernel clears on an id change, are
// restored with the ids; a parent that died meanwhile is acted on as the kernel would have.
// Where the ids do not exist (a user namespace that maps fewer: `unshare -r`, a rootless
// container), nothing changes and acting() is false: that namespace's root then owns the
// sandbox's namespace, as an ordinary user does, on the budget its own namespace was given.
// Throws caisson::Error.
class ActAsUsernsOwner {
public:
    ActAsUsernsOwner(uid_t uid, gid_t gid);
    ~ActAsUsernsOwner();
    bool acting() const { return acting_; }
    ActAsUsernsOwner(const ActAsUsernsOwner&) = delete;
    ActAsUsernsOwner& operator=(const ActAsUsernsOwner&) = delete;

private:
    bool acting_ = false;
    int dumpable_ = 1;
    int pdeath_signal_ = 0;
    pid_t parent_ = 0;
};

}  // namespace caisson::mech
