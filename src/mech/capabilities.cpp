#include "mech/capabilities.hpp"

#include "kernel/raw_log.hpp"

#include <linux/capability.h>
#include <linux/securebits.h>
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

bool capset_all(uint64_t bits, kernel::Failure& f) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    for (int i = 0; i < 2; ++i) {
        auto word = static_cast<uint32_t>(bits >> (32 * i));
        data[i].effective = data[i].permitted = data[i].inheritable = word;
    }
    if (::syscall(SYS_capset, &hdr, data) < 0) return f.set("capset", "effective,permitted,inheritable");
    return true;
}

}  // namespace

bool restrict_capability_sets(uint64_t keep, kernel::Failure& f) {
    for (int cap = 0, last = last_cap(); cap <= last; ++cap)
        if (!kept(keep, cap) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
            char what[32];
            return f.set("drop bounding capability", kernel::RawBuf(what, sizeof(what)).str("capability ").num(cap).c_str());
        }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return f.set("clear ambient capabilities", "ambient");
    // uid 0 inside must not regain capabilities by exec'ing; locked so the program cannot
    // undo it. Raising ambient capabilities stays possible only when some are kept (and
    // then only those, which are all the program has).
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
                         SECBIT_KEEP_CAPS_LOCKED;
    if (keep == 0) bits |= SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (::prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) return f.set("set securebits", "NOROOT|NO_SETUID_FIXUP");
    return true;
}

bool set_kept_capabilities(uint64_t keep, kernel::Failure& f) {
    if (!capset_all(keep, f)) return false;
    for (int cap = 0; cap < 64; ++cap)
        if (kept(keep, cap) && ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EINVAL) {
            char what[32];
            return f.set("raise ambient capability", kernel::RawBuf(what, sizeof(what)).str("capability ").num(cap).c_str());
        }
    return true;
}

bool drop_capabilities_without_exec(kernel::Failure& f) { return capset_all(0, f); }

bool set_no_new_privs(kernel::Failure& f) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return f.set("set no_new_privs", "prctl");
    return true;
}

}  // namespace caisson::mech
