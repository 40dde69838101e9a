// Which clone flags a policy asks for, and their names for the report.
#pragma once

#include <caisson/policy.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace caisson::mech {

// Flags for clone3. The time namespace is not among them: its offsets can only be written
// before any process enters it, so init unshares it and its child (the program) enters.
uint64_t clone_flags(const Namespaces& ns);

std::vector<std::string> namespace_names(const Namespaces& ns);

}  // namespace caisson::mech
