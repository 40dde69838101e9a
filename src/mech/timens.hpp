// The time namespace. Its offsets can be written only before a process enters it, so init
// unshares it for its children, writes the offsets, and the program is forked into it.
#pragma once

#include "kernel/failure.hpp"

#include <caisson/policy.hpp>

#include <string>

namespace caisson::mech {

// "monotonic S 0\nboottime S 0\n", or empty when both offsets are zero (the default).
std::string timens_offsets_text(const TimeOffsets& t);

bool enter_time_namespace_for_children(const std::string& offsets, kernel::Failure& f);

}  // namespace caisson::mech
