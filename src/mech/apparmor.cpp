#include "mech/apparmor.hpp"

#include "kernel/fd.hpp"

#include <fcntl.h>
#include <linux/magic.h>
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
    // The interface of the AppArmor LSM itself (stacking kernels), then the shared one.
    const char* const paths[] = {"/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"};
    for (const char* path : paths) {
        kernel::Fd fd(::open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT && path == paths[0]) continue;
            return f.set("open AppArmor's exec attr", path);
        }
        struct statfs fs{};
        if (::fstatfs(fd.get(), &fs) < 0) return f.set("fstatfs", path);
        if (fs.f_type != PROC_SUPER_MAGIC) return f.set("AppArmor attr not on procfs", path, EXDEV);
        char text[256] = "exec ";
        if (profile.size() > sizeof(text) - 6) return f.set("set AppArmor profile", profile.c_str(), ENAMETOOLONG);
        std::memcpy(text + 5, profile.data(), profile.size());
        const size_t len = 5 + profile.size();
        if (::write(fd.get(), text, len) != static_cast<ssize_t>(len)) return f.set("set AppArmor profile", profile.c_str());
        return true;
    }
    return f.set("open AppArmor's exec attr", paths[1], ENOENT);
}

}  // namespace caisson::mech
