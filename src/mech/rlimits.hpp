// Resource limits, set in the program just before exec. Allocation-free.
#pragma once

#include "kernel/failure.hpp"

#include <caisson/policy.hpp>

#include <vector>

namespace caisson::mech {

bool apply_rlimits(const std::vector<Rlimit>& limits, kernel::Failure& f);

}  // namespace caisson::mech
