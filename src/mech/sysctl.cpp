#include "mech/sysctl.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/procfs_root.hpp"

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
    kernel::Fd proc(open_procfs_root("/proc (for sysctls)", f));
    if (!proc) return false;
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
