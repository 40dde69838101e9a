// The condition language of seccomp rules, e.g.
//   arg1 == TIOCSTI || arg1 == TIOCLINUX
//   arg0 & (CLONE_NEWUSER | CLONE_NEWNS)          (a bare masked argument means != 0)
//   (arg2 & O_ACCMODE) != O_RDONLY && !(arg0 in {AF_UNIX, AF_INET})
//   low32(arg0) == -1
// Values are 64-bit unsigned; -N is its two's complement. Pure parsing, no system calls.
#pragma once

#include <caisson/seccomp.hpp>

#include <string_view>

namespace caisson::filter {

// Throws caisson::Error (usage) naming the column: "column 7: expected a value after '=='".
seccomp::Expr parse_condition(std::string_view text);

// A value alone: 0x10, -1, O_RDONLY | O_CLOEXEC.
uint64_t parse_value(std::string_view text);

// The condition back as text (for policy check and the report).
std::string condition_text(const seccomp::Expr&);

}  // namespace caisson::filter
