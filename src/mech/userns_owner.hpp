// Who creates the sandbox's user namespace decides whose budget its counts spend. The kernel
// charges every per-user-namespace count made inside (inotify instances and watches, new
// namespaces, fanotify groups...) at each ancestor level to the uid that created the child
// namespace. A sandbox's namespace created by host root spends root's budget: one sandbox
// could exhaust inotify for every root daemon of the host. So a root-run sandbox's user
// namespace is created by the calling thread acting as the host ids that stand behind the
// sandbox (65534 by default), and the sandbox spends that uid's budget, as a rootless one
// spends its caller's.
#pragma once

#include <sys/types.h>

namespace caisson::mech {

// For its lifetime, the calling thread's effective ids are `uid`/`gid` (its real and saved
// ids stay root's, so the destructor can return). Raw system calls: the C library would
// change every thread of the process, and this may be a library caller's thread.
// Dumpability and the parent-death signal, which the kernel clears on an id change, are
// restored with the ids; a parent that died meanwhile is acted on as the kernel would have.
// Throws caisson::Error.
class ActAsUsernsOwner {
public:
    ActAsUsernsOwner(uid_t uid, gid_t gid);
    ~ActAsUsernsOwner();
    ActAsUsernsOwner(const ActAsUsernsOwner&) = delete;
    ActAsUsernsOwner& operator=(const ActAsUsernsOwner&) = delete;

private:
    int dumpable_ = 1;
    int pdeath_signal_ = 0;
    pid_t parent_ = 0;
};

}  // namespace caisson::mech
