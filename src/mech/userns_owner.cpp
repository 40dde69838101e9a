#include "mech/userns_owner.hpp"

#include <caisson/error.hpp>

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>

namespace caisson::mech {

uint32_t userns_owner_id() { return kUsernsOwnerBase + static_cast<uint32_t>(::gettid()); }

ActAsUsernsOwner::ActAsUsernsOwner(uid_t uid, gid_t gid) {
    dumpable_ = ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    (void)::prctl(PR_GET_PDEATHSIG, &pdeath_signal_, 0, 0, 0);
    parent_ = ::getppid();
    if (::syscall(SYS_setresgid, -1, gid, -1) < 0) {
        // EINVAL: the id is not mapped here. Nothing was changed.
        if (errno == EINVAL) return;
        throw Error(ErrorKind::Setup, "setresgid (the user namespace's owner)", std::to_string(gid), errno);
    }
    if (::syscall(SYS_setresuid, -1, uid, -1) < 0) {
        int err = errno;
        (void)::syscall(SYS_setresgid, -1, 0, -1);
        throw Error(ErrorKind::Setup, "setresuid (the user namespace's owner)", std::to_string(uid), err);
    }
    acting_ = true;
}

ActAsUsernsOwner::~ActAsUsernsOwner() {
    if (!acting_) return;
    // Back to root: the saved uid is still 0, and the effective capabilities come back from
    // the permitted set. Nothing to report if it failed: the next privileged step would.
    (void)::syscall(SYS_setresuid, -1, 0, -1);
    (void)::syscall(SYS_setresgid, -1, 0, -1);
    if (dumpable_ >= 0) (void)::prctl(PR_SET_DUMPABLE, dumpable_, 0, 0, 0);
    if (pdeath_signal_ > 0) {
        (void)::prctl(PR_SET_PDEATHSIG, pdeath_signal_, 0, 0, 0);
        if (::getppid() != parent_) ::raise(pdeath_signal_);  // the parent died meanwhile
    }
}

}  // namespace caisson::mech
