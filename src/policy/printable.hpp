// What a sandbox sent or named, made safe to show (a --monitor line, a report, a comment in a
// profile caisson writes): printable ASCII only, other bytes as \xNN (no terminal escapes,
// no line breaks, nothing that is not UTF-8), cut after `max` bytes. Pure.
#pragma once

#include <cstddef>
#include <string>

namespace caisson {

std::string printable(const std::string& text, size_t max);

}  // namespace caisson
