#include "mech/sysctl.hpp"

#include "kernel/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace caisson::mech {

bool write_sysctls(const std::vector<std::pair<std::string, std::string>>& values, kernel::Failure& f) {
    for (const auto& [key, value] : values) {
        std::string path = "/proc/sys/" + key;
        std::replace(path.begin() + 10, path.end(), '.', '/');
        kernel::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
            return f.set("write sysctl", key.c_str());
    }
    return true;
}

}  // namespace caisson::mech
