// The one schema: every setting of the policy, described once. A CLI flag `--NAME` and a
// TOML profile key `NAME` are the same entry, so they share a name, a parser and a default.
#pragma once

#include <caisson/policy.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace caisson::schema {

struct Setting {
    std::string_view name;     // flag without "--", and profile key
    int arity;                 // 0: a switch; 1 or 2: that many values per use
    bool repeatable;           // a list in TOML; may be given many times on the command line
    std::string_view metavar;  // for --help
    std::string_view help;
    // Applies one use. Switches receive {"true"} or {"false"}.
    void (*apply)(Policy&, std::span<const std::string> args);
};

std::span<const Setting> settings();
const Setting* find(std::string_view name);

}  // namespace caisson::schema
