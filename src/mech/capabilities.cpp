#include "mech/capabilities.hpp"

#include "kernel/raw_log.hpp"
#include "kernel/syscalls.hpp"

#include <linux/capability.h>
#include <linux/securebits.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {
namespace {

int last_cap() {
    // PR_CAPBSET_READ fails with EINVAL past the kernel's last capability.
    int cap = CAP_LAST_CAP;
    while (::prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0) ++cap;
    return cap;
}

bool kept(uint64_t keep, int cap) { return cap < 64 && (keep >> cap) & 1; }

bool capset(uint64_t effective, uint64_t permitted, uint64_t inheritable, kernel::Failure& f) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    for (int i = 0; i < 2; ++i) {
        data[i].effective = static_cast<uint32_t>(effective >> (32 * i));
        data[i].permitted = static_cast<uint32_t>(permitted >> (32 * i));
        data[i].inheritable = static_cast<uint32_t>(inheritable >> (32 * i));
    }
    if (::syscall(SYS_capset, &hdr, data) < 0) return f.set("capset", "effective,permitted,inheritable");
    return true;
}

bool drop_bounding(uint64_t bounding, kernel::Failure& f) {
    for (int cap = 0, last = last_cap(); cap <= last; ++cap)
        if (!kept(bounding, cap) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
            char what[32];
            return f.set("drop bounding capability", kernel::RawBuf(what, sizeof(what)).str("capability ").num(cap).c_str());
        }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return f.set("clear ambient capabilities", "ambient");
    return true;
}

// uid 0 must not regain capabilities by exec'ing; locked so the program cannot undo it.
// Raising ambient capabilities stays possible only when some are kept (and then only
// those, which are all the program has).
bool lock_securebits(bool ambient_kept, kernel::Failure& f) {
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
                         SECBIT_KEEP_CAPS_LOCKED;
    if (!ambient_kept) bits |= SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (::prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) return f.set("set securebits", "NOROOT|NO_SETUID_FIXUP");
    return true;
}

bool raise_ambient(uint64_t ambient, kernel::Failure& f) {
    for (int cap = 0; cap < 64; ++cap)
        if (kept(ambient, cap) && ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EINVAL) {
            char what[32];
            return f.set("raise ambient capability", kernel::RawBuf(what, sizeof(what)).str("capability ").num(cap).c_str());
        }
    return true;
}

// New ids, with the permitted set kept across them: by the locked NO_SETUID_FIXUP bit where
// the securebits are locked, by KEEPCAPS for the change otherwise.
bool change_ids(const IdChange& ids, bool locked, kernel::Failure& f) {
    if (!locked && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return f.set("prctl", "PR_SET_KEEPCAPS");
    if (!ids.keep_groups && kernel::set_groups(ids.n_groups, ids.groups) < 0) return f.set("setgroups", "supplementary groups");
    if (kernel::set_res_gid(ids.gid, ids.gid, ids.gid) < 0) return f.set("setresgid", "gid");
    if (kernel::set_res_uid(ids.uid, ids.uid, ids.uid) < 0) return f.set("setresuid", "uid");
    if (!locked && ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return f.set("prctl", "PR_SET_KEEPCAPS");
    return true;
}

}  // namespace

bool take_capabilities(const CapabilitySets& c, const IdChange* ids, bool lock, kernel::Failure& f) {
    if (!drop_bounding(c.bounding, f)) return false;
    if (lock && !lock_securebits(c.ambient != 0, f)) return false;
    if (ids && !change_ids(*ids, lock, f)) return false;
    return capset(c.effective, c.permitted, c.inheritable, f) && raise_ambient(c.ambient, f);
}

bool restrict_capability_sets(uint64_t keep, kernel::Failure& f) {
    return drop_bounding(keep, f) && lock_securebits(keep != 0, f);
}

bool set_kept_capabilities(uint64_t keep, kernel::Failure& f) {
    return capset(keep, keep, keep, f) && raise_ambient(keep, f);
}

bool drop_capabilities_without_exec(kernel::Failure& f) { return capset(0, 0, 0, f); }

bool narrow_capabilities(uint64_t keep, uint64_t bounding, kernel::Failure& f) {
    if (!drop_bounding(bounding, f)) return false;
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &hdr, data) < 0) return f.set("capget", "own capabilities");
    auto set = [&](uint32_t __user_cap_data_struct::*field) {
        return (static_cast<uint64_t>(data[1].*field) << 32 | data[0].*field) & keep;
    };
    return capset(set(&__user_cap_data_struct::effective), set(&__user_cap_data_struct::permitted),
                  set(&__user_cap_data_struct::inheritable), f);
}

bool set_no_new_privs(kernel::Failure& f) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return f.set("set no_new_privs", "prctl");
    return true;
}

}  // namespace caisson::mech
