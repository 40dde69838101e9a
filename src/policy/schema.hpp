// The one schema: every setting of the policy, described once. A CLI flag `--NAME` and a
// TOML profile key `NAME` are the same entry, so they share a name, a parser and a default.
#pragma once

#include <caisson/settings.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

// The declarations are public (include/caisson/settings.hpp); the entries are in schema.cpp.
