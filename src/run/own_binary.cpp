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
    const gid_t caller_gid = ::getegid();
    // Without a user namespace, a capability the program keeps counts in the host's: any of
    // them (DAC_OVERRIDE, FOWNER, SETUID, ...) may be a way to the file, whatever its ids.
    if (!p.namespaces.user && !p.capabilities.empty()) return !mech::self_exe_is_protected();
    uid_t host_uid = caller;
    gid_t host_gid = caller_gid;
    if (p.namespaces.user) {
        mech::IdMaps maps = mech::decide_id_maps(p.identity, caller, caller_gid);
        host_uid = maps.host_uid;
        host_gid = maps.host_gid;
    } else if (caller == 0) {
        // As preflight decides it: root inside stays root only when asked for by name.
        host_uid = p.identity.uid;
        host_gid = p.identity.gid;
        if (host_uid == 0 && !p.identity.map_host_root) host_uid = p.identity.host_uid.value_or(mech::kNobody);
        if (host_gid == 0 && !p.identity.map_host_root) host_gid = p.identity.host_gid.value_or(mech::kNobody);
    }
    return mech::self_exe_writable_by(host_uid, host_gid);
}

void run_from_protected_copy(char** argv) {
    if (mech::self_exe_is_safe()) return;
    mech::reexec_from_protected_copy(argv, environ);
    throw Error(ErrorKind::Setup, "re-execute from a protected copy of this binary (CVE-2019-5736)", "/proc/self/exe", errno);
}

}  // namespace caisson
