// Capabilities: the program starts with none in all five sets, or with exactly the ones the
// policy keeps (--cap-add). Allocation-free (child side).
#pragma once

#include "kernel/failure.hpp"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace caisson::mech {

// The five sets, a bit per CAP_* each, as OCI writes them; caisson's own policy gives the
// same bits to all five.
struct CapabilitySets {
    uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
    static CapabilitySets all(uint64_t keep) { return {keep, keep, keep, keep, keep}; }
};

// New ids for the process, its capabilities kept across the change.
struct IdChange {
    uid_t uid = 0;
    gid_t gid = 0;
    const gid_t* groups = nullptr;  // the supplementary groups (none: cleared)
    size_t n_groups = 0;
    // setgroups is denied in the process's user namespace (an ordinary user's): the groups
    // it was made with stay, and none are set.
    bool keep_groups = false;
};

// A process's capabilities (and, with `ids`, its ids) in the one order that works, for both
// faces: the bounding set reduced, the ambient set cleared, with `lock` the securebits set
// and locked so that uid 0 gains nothing on exec (caisson's own sandboxes; OCI's containers
// leave them as the config's sets say), the ids changed with the permitted set kept, then
// effective, permitted and inheritable, then the ambient set raised. Needs CAP_SETPCAP and,
// with ids, CAP_SETUID/CAP_SETGID. No allocation.
bool take_capabilities(const CapabilitySets& c, const IdChange* ids, bool lock, kernel::Failure& f);

// Bounding set reduced to `keep` (a bit per CAP_*), ambient set emptied, securebits set and
// locked so that uid 0 gains nothing on exec. Needs CAP_SETPCAP: the first half.
bool restrict_capability_sets(uint64_t keep, kernel::Failure& f);

// The second half: effective, permitted and inheritable become `keep`, and each kept
// capability is raised in the ambient set, which is how it survives exec (for any uid:
// with SECBIT_NOROOT even uid 0 gets nothing from exec otherwise).
bool set_kept_capabilities(uint64_t keep, kernel::Failure& f);

// Clears effective, permitted and inheritable only: for a process that never execs again
// (the sandbox's init), where the bounding and ambient sets have nothing left to guard.
bool drop_capabilities_without_exec(kernel::Failure& f);

// The bounding set reduced to `bounding` (so that an exec as uid 0 regains nothing more) and
// the ambient set emptied, then effective, permitted and inheritable lose every capability
// outside `keep`. take_capabilities still sets all five later. Needs CAP_SETPCAP. No
// allocation.
bool narrow_capabilities(uint64_t keep, uint64_t bounding, kernel::Failure& f);

// PR_SET_NO_NEW_PRIVS: setuid binaries and file capabilities grant nothing.
bool set_no_new_privs(kernel::Failure& f);

}  // namespace caisson::mech
