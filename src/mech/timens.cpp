#include "mech/timens.hpp"

#include "kernel/fd.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

namespace caisson::mech {

std::string timens_offsets_text(const TimeOffsets& t) {
    if (t.monotonic_s == 0 && t.boottime_s == 0) return {};
    return "monotonic " + std::to_string(t.monotonic_s) + " 0\nboottime " + std::to_string(t.boottime_s) + " 0\n";
}

bool enter_time_namespace_for_children(const std::string& offsets, kernel::Failure& f) {
    if (::unshare(CLONE_NEWTIME) < 0) return f.set("unshare time namespace", "CLONE_NEWTIME");
    if (offsets.empty()) return true;
    kernel::Fd fd(::open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC));
    if (!fd) return f.set("open", "/proc/self/timens_offsets");
    if (::write(fd.get(), offsets.data(), offsets.size()) != static_cast<ssize_t>(offsets.size()))
        return f.set("write time offsets", "/proc/self/timens_offsets");
    return true;
}

}  // namespace caisson::mech
