#include "mech/apparmor.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/procfs_root.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace caisson::mech {

bool apparmor_enabled() {
    kernel::Fd fd(::open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC));
    char c = 0;
    return fd && ::read(fd.get(), &c, 1) == 1 && c == 'Y';
}

bool set_apparmor_exec_profile(const std::string& profile, kernel::Failure& f) {
    char text[256] = "exec ";
    if (profile.size() > sizeof(text) - 6) return f.set("set AppArmor profile", profile.c_str(), ENAMETOOLONG);
    std::memcpy(text + 5, profile.data(), profile.size());
    const size_t len = 5 + profile.size();
    // The procfs root itself, checked, then the attr file beneath it, on that filesystem
    // alone: /proc/<pid>/sched on another procfs would take the write, say nothing, and leave
    // the program unconfined (CVE-2019-16884's class).
    kernel::Fd proc(open_procfs_root("/proc (for AppArmor)", f));
    if (!proc) return false;
    // The interface of the AppArmor LSM itself (stacking kernels), then the shared one;
    // thread-self is procfs's own relative link, followed; nothing else is.
    const char* const paths[] = {"thread-self/attr/apparmor/exec", "thread-self/attr/exec"};
    for (const char* path : paths) {
        kernel::Fd fd(kernel::openat2(proc.get(), path, O_WRONLY | O_CLOEXEC,
                                      RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV));
        if (!fd) {
            if (errno == ENOENT && path == paths[0]) continue;
            return f.set("open AppArmor's exec attr", path);
        }
        if (::write(fd.get(), text, len) != static_cast<ssize_t>(len)) return f.set("set AppArmor profile", profile.c_str());
        return true;
    }
    return f.set("open AppArmor's exec attr", paths[1], ENOENT);
}

}  // namespace caisson::mech
