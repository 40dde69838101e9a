#include "mech/fds.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <utility>
#include <cerrno>
#include <climits>
#include <cstring>

namespace caisson::mech {

bool close_fds_except(const std::vector<int>& keep, std::initializer_list<int> also, kernel::Failure& f) {
    int extra[8];
    size_t n_extra = 0;
    for (int fd : also)
        if (fd >= 0 && n_extra < sizeof(extra) / sizeof(extra[0])) extra[n_extra++] = fd;
    for (size_t a = 1; a < n_extra; ++a)  // insertion sort: a handful of numbers
        for (size_t b = a; b > 0 && extra[b - 1] > extra[b]; --b) std::swap(extra[b - 1], extra[b]);
    // Walk both sorted lists at once; close each gap between kept descriptors.
    unsigned next = 3;
    size_t i = 0, j = 0;
    while (i < keep.size() || j < n_extra) {
        int fd = (j == n_extra || (i < keep.size() && keep[i] < extra[j])) ? keep[i++] : extra[j++];
        if (fd < 0 || static_cast<unsigned>(fd) < next) continue;
        if (static_cast<unsigned>(fd) > next && kernel::close_range(next, static_cast<unsigned>(fd) - 1, 0) < 0)
            return f.set("close_range", "inherited descriptors");
        next = static_cast<unsigned>(fd) + 1;
    }
    if (next <= static_cast<unsigned>(INT_MAX) && kernel::close_range(next, ~0U, 0) < 0)
        return f.set("close_range", "inherited descriptors");
    return true;
}

bool fill_closed_stdio(kernel::Failure& f) {
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        int null = ::open("/dev/null", O_RDWR | O_NOCTTY);  // the lowest free number: this one
        if (null < 0) return f.set("open /dev/null", fd == 0 ? "a closed stdin" : fd == 1 ? "a closed stdout" : "a closed stderr");
        if (null != fd) {
            // Another thread took the number meanwhile: what it holds is its own.
            ::close(null);
            return f.set("fill a closed stream", fd == 0 ? "stdin" : fd == 1 ? "stdout" : "stderr", EBUSY);
        }
    }
    return true;
}

bool redirect_stdio(const int (&from)[3], kernel::Failure& f) {
    int copy[3] = {-1, -1, -1};
    auto drop_copies = [&] {
        for (int c : copy)
            if (c >= 0) ::close(c);
    };
    for (int i = 0; i < 3; ++i) {
        if (from[i] == i) continue;
        // Above 2, so that no copy lands in a slot still to be filled.
        if (from[i] >= 0) {
            copy[i] = ::fcntl(from[i], F_DUPFD_CLOEXEC, 3);
        } else {
            int null = ::open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
            copy[i] = null < 0 || null >= 3 ? null : ::fcntl(null, F_DUPFD_CLOEXEC, 3);
            if (null >= 0 && null < 3) ::close(null);
            struct stat st{};
            if (copy[i] >= 0 && (::fstat(copy[i], &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))) {
                drop_copies();
                errno = ENODEV;
                return f.set("check /dev/null", "/dev/null (not the null device)");
            }
        }
        if (copy[i] < 0) {
            int e = errno;
            drop_copies();
            errno = e;
            return f.set(from[i] >= 0 ? "dup the standard stream" : "open /dev/null",
                         i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
        }
    }
    for (int i = 0; i < 3; ++i) {
        if (copy[i] < 0) continue;
        if (::dup2(copy[i], i) < 0) {
            int e = errno;
            drop_copies();
            errno = e;
            return f.set("dup2 the standard stream", i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
        }
    }
    drop_copies();
    return true;
}

bool reopen_null_inside(const int (&from)[3], kernel::Failure& f) {
    if (from[0] >= 0 && from[1] >= 0 && from[2] >= 0) return true;
    kernel::Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return f.set("open the sandbox's root", "/");
    constexpr uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    // Looked at before it is opened for real: opening a device can act (a watchdog).
    kernel::Fd at(kernel::openat2(root.get(), "dev/null", O_PATH | O_CLOEXEC, kResolve));
    struct stat st{};
    if (!at || ::fstat(at.get(), &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) return true;
    kernel::Fd null(kernel::openat2(root.get(), "dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY, kResolve));
    struct stat again{};
    if (!null || ::fstat(null.get(), &again) < 0 || again.st_ino != st.st_ino || again.st_dev != st.st_dev) return true;
    for (int i = 0; i < 3; ++i)
        if (from[i] < 0 && ::dup2(null.get(), i) < 0)
            return f.set("dup2 the sandbox's /dev/null", i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
    return true;
}

bool pass_fds_through_exec(const std::vector<int>& pass, kernel::Failure& f) {
    for (int fd : pass)
        if (::fcntl(fd, F_SETFD, 0) < 0) return f.set("pass descriptor", "--pass-fd");
    return true;
}

std::string way_out_through(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    struct stat st{};
    if (flags < 0 || ::fstat(fd, &st) < 0) return std::to_string(fd) + ": " + std::strerror(errno);
    if (S_ISDIR(st.st_mode)) return "descriptor " + std::to_string(fd) + " is a directory, a way out of the sandbox's root";
    if (flags & O_PATH) return "descriptor " + std::to_string(fd) + " is an O_PATH handle, a way out of the sandbox's root";
    return "";
}

}  // namespace caisson::mech
