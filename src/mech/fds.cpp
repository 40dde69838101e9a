#include "mech/fds.hpp"

#include "kernel/syscalls.hpp"

#include <fcntl.h>

#include <utility>
#include <climits>

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

bool pass_fds_through_exec(const std::vector<int>& pass, kernel::Failure& f) {
    for (int fd : pass)
        if (::fcntl(fd, F_SETFD, 0) < 0) return f.set("pass descriptor", "--pass-fd");
    return true;
}

}  // namespace caisson::mech
