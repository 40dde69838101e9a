// CVE-2019-5736 for every face (mech/self_exe.hpp tells the two ways in): whether a sandbox's
// program could rewrite the binary of the process that runs it, and the re-execution from a
// protected copy that closes both ways.
#include "mech/idmap.hpp"
#include "mech/self_exe.hpp"

#include <caisson/error.hpp>
#include <caisson/sandbox.hpp>

#include <unistd.h>

#include <cerrno>

namespace caisson {

bool Sandbox::exposes_own_binary() const {
    const Policy& p = policy_;
    const uid_t caller = ::geteuid();
    uid_t host_uid = caller;
    if (p.namespaces.user) {
        host_uid = mech::decide_id_maps(p.identity, caller, ::getegid()).host_uid;
    } else if (caller == 0) {
        // As preflight decides it: root inside stays root only when asked for by name.
        host_uid = p.identity.uid;
        if (host_uid == 0 && !p.identity.map_host_root) host_uid = p.identity.host_uid.value_or(mech::kNobody);
    }
    return mech::self_exe_writable_by(host_uid);
}

void run_from_protected_copy(char** argv) {
    if (mech::self_exe_is_safe()) return;
    mech::reexec_from_protected_copy(argv, environ);
    throw Error(ErrorKind::Setup, "re-execute from a protected copy of this binary (CVE-2019-5736)", "/proc/self/exe", errno);
}

}  // namespace caisson
