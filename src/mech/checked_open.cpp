#include "mech/checked_open.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {

int open_checked(int root, const char* path, int flags, bool (*accept)(const struct stat&)) {
    constexpr unsigned kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    kernel::Fd look(kernel::openat2(root, path, O_PATH | O_CLOEXEC, kResolve));
    if (!look) return -1;
    struct stat before{};
    if (::fstat(look.get(), &before) < 0) return -1;
    if (!accept(before)) {
        errno = EPERM;
        return -1;
    }
    // O_NONBLOCK|O_NOCTTY: even if it were swapped for a FIFO or a terminal, the open neither
    // waits nor takes it as the controlling terminal; the check below then refuses it.
    kernel::Fd fd(kernel::openat2(root, path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, kResolve));
    if (!fd) return -1;
    struct stat after{};
    if (::fstat(fd.get(), &after) < 0) return -1;
    if (after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
        errno = EAGAIN;
        return -1;
    }
    // Back to blocking reads where the caller asked for them.
    if (!(flags & O_NONBLOCK) && ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK) < 0) return -1;
    return fd.release();
}

}  // namespace caisson::mech
