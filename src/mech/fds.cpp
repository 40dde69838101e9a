#include "mech/fds.hpp"

#include "kernel/syscalls.hpp"

#include <fcntl.h>

namespace caisson::mech {

bool close_inherited_fds(const std::vector<int>& pass, run::Failure& f) {
    unsigned next = 3;
    for (int fd : pass) {
        if (static_cast<unsigned>(fd) > next &&
            kernel::close_range(next, static_cast<unsigned>(fd) - 1, CLOSE_RANGE_CLOEXEC) < 0)
            return f.set("close_range", "inherited descriptors");
        if (::fcntl(fd, F_SETFD, 0) < 0) return f.set("pass descriptor", "--pass-fd");
        next = static_cast<unsigned>(fd) + 1;
    }
    if (kernel::close_range(next, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        return f.set("close_range", "inherited descriptors");
    return true;
}

}  // namespace caisson::mech
