// Named constants for seccomp conditions (O_RDONLY, AF_UNIX, CLONE_NEWUSER, TIOCSTI, ...),
// with their values taken from the system headers, and errno names from the C library.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace caisson::filter {

std::optional<uint64_t> constant_value(std::string_view name);

// EPERM -> 1, and "13" -> 13.
std::optional<int> errno_value(std::string_view name);
// 1 -> "EPERM" (or the number).
const char* errno_name(int value);

}  // namespace caisson::filter
