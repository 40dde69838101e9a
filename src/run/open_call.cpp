#include "run/open_call.hpp"

#include "kernel/process_memory.hpp"

#include <linux/openat2.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace caisson::run {

int read_open_call(pid_t pid, std::string_view syscall, const __u64 args[6], OpenCall& out) {
    out = OpenCall{};
    if (syscall == "open" || syscall == "creat") {
        out.path = args[0];
        out.flags = syscall == "creat" ? O_CREAT | O_WRONLY | O_TRUNC : static_cast<uint32_t>(args[1]);
        out.mode = syscall == "creat" ? args[1] : args[2];
        return 0;
    }
    out.dirfd = static_cast<int>(args[0]);
    out.path = args[1];
    if (syscall == "openat") {
        out.flags = static_cast<uint32_t>(args[2]);
        out.mode = args[3];
        return 0;
    }
    out.openat2 = true;
    // Sizes the kernel knows are read whole; a larger struct must be zero beyond ours.
    uint64_t size = args[3];
    if (size < 24 /* OPEN_HOW_SIZE_VER0 */) return EINVAL;
    if (size > 4096) return E2BIG;
    std::vector<char> raw(size);
    if (int err = kernel::read_process_memory(pid, args[2], raw.data(), raw.size(), false)) return err;
    if (std::any_of(raw.begin() + sizeof(open_how), raw.end(), [](char c) { return c != 0; })) return E2BIG;
    open_how how{};
    std::memcpy(&how, raw.data(), std::min(raw.size(), sizeof(how)));
    out.flags = how.flags;
    out.mode = how.mode;
    out.resolve = how.resolve;
    return 0;
}

}  // namespace caisson::run
