// Installing a compiled seccomp program in the program's process, the last step before
// exec (the program must allow execve itself: preflight checks that it does).
#pragma once

#include "kernel/failure.hpp"

#include <linux/filter.h>

#include <vector>

namespace caisson::mech {

// With `listener`, asks for a user-notification descriptor (SECCOMP_FILTER_FLAG_NEW_LISTENER,
// close-on-exec) and stores it there. Allocation-free.
// `extra_flags`: more SECCOMP_FILTER_FLAG_* (LOG, SPEC_ALLOW), as an OCI config asks.
bool install_seccomp(const std::vector<sock_filter>& program, int* listener, kernel::Failure& f, unsigned extra_flags = 0);

}  // namespace caisson::mech
