// toml++ 3.3 (Debian 12) reaches __builtin_unreachable() on some non-ASCII characters where
// it expects whitespace or a key (found by fuzzing: undefined behaviour, not an error).
// caisson's TOML is ASCII but for whole-line comments, so other text is refused first.
#pragma once

#include <toml++/toml.h>

#include <string>
#include <string_view>

namespace caisson::toml_guard {

// Throws caisson::Error (usage): "ORIGIN:LINE:COL: non-ASCII character (allowed in
// whole-line comments only)".
void require_ascii_structure(std::string_view text, const std::string& origin);

// The guard, then toml++; a parse error becomes caisson::Error (usage) "ORIGIN:LINE:COL: ...".
toml::table parse(std::string_view text, const std::string& origin);

}  // namespace caisson::toml_guard
