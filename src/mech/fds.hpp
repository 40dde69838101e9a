// Only 0, 1, 2 and the descriptors the policy names reach the program (CVE-2024-21626:
// a leaked descriptor to a host directory is a way out).
#pragma once

#include "run/failure.hpp"

#include <vector>

namespace caisson::mech {

// Marks every other descriptor close-on-exec (so an exec failure can still be reported on
// one), and clears close-on-exec on the passed ones. `pass` is sorted.
bool close_inherited_fds(const std::vector<int>& pass, run::Failure& f);

}  // namespace caisson::mech
