// Reading another process's memory (process_vm_readv), for the supervisor's look at a
// notified call's pointers. The caller checks SECCOMP_IOCTL_NOTIF_ID_VALID afterwards.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace caisson::kernel {

// Reads `size` bytes, or up to a NUL when `string`, page by page (a string may end just
// before an unmapped page). 0 or an errno: EFAULT, or ENAMETOOLONG for a string with no end.
inline int read_process_memory(pid_t pid, uint64_t addr, char* out, size_t size, bool string) {
    size_t got = 0;
    while (got < size) {
        size_t page_left = 4096 - ((addr + got) % 4096);
        size_t chunk = std::min(page_left, size - got);
        iovec local{out + got, chunk};
        iovec remote{reinterpret_cast<void*>(addr + got), chunk};
        ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n <= 0) return EFAULT;
        if (string && std::memchr(out + got, '\0', static_cast<size_t>(n))) return 0;
        got += static_cast<size_t>(n);
    }
    return string ? ENAMETOOLONG : 0;
}

}  // namespace caisson::kernel
