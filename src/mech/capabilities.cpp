#include "mech/capabilities.hpp"

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

}  // namespace

bool drop_all_capabilities(run::Failure& f) {
    return restrict_capability_sets(f) && drop_capabilities_without_exec(f);
}

bool restrict_capability_sets(run::Failure& f) {
    for (int cap = 0, last = last_cap(); cap <= last; ++cap)
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return f.set("drop bounding capability", "CAP_*");
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return f.set("clear ambient capabilities", "ambient");
    // uid 0 inside must not regain capabilities by exec'ing; locked so the program cannot undo it.
    const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                               SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                               SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (::prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) return f.set("set securebits", "NOROOT|NO_SETUID_FIXUP");
    return true;
}

bool drop_capabilities_without_exec(run::Failure& f) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capset, &hdr, data) < 0) return f.set("capset", "effective,permitted,inheritable");
    return true;
}

bool set_no_new_privs(run::Failure& f) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return f.set("set no_new_privs", "prctl");
    return true;
}

}  // namespace caisson::mech
