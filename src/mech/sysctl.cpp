#include "mech/sysctl.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>

namespace caisson::mech {

bool write_sysctls(const std::vector<std::pair<std::string, std::string>>& values, kernel::Failure& f) {
    if (values.empty()) return true;
    // The procfs root itself, checked: in a mount namespace a container's process shares, a
    // mount over /proc or /proc/sys could redirect these writes (CVE-2025-52881's class).
    // A clone of the procfs mount alone, where this process may make one: the mounts over
    // its subtrees (a read-only /proc/sys of a host that runs us in a container, LXC's
    // read-write /proc/sys/net) stay behind, and so does anything mounted there to redirect
    // us. Else /proc, where no mount may be crossed.
    kernel::Fd proc(kernel::open_tree(AT_FDCWD, "/proc", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!proc) proc.reset(::open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct statfs fs{};
    struct stat st{};
    if (!proc || ::fstatfs(proc.get(), &fs) < 0 || ::fstat(proc.get(), &st) < 0) return f.set("open", "/proc (for sysctls)");
    if (fs.f_type != PROC_SUPER_MAGIC || st.st_ino != 1) return f.set("not the procfs root", "/proc (for sysctls)", EXDEV);
    for (const auto& [key, value] : values) {
        std::string path = "sys/" + key;
        std::replace(path.begin() + 4, path.end(), '.', '/');
        // Beneath that root, on that filesystem alone: no link, no mount crossed.
        kernel::Fd fd(kernel::openat2(proc.get(), path.c_str(), O_WRONLY | O_CLOEXEC,
                                      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV));
        if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
            return f.set("write sysctl", key.c_str());
    }
    return true;
}

}  // namespace caisson::mech
