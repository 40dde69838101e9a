// How a policy is written: the one schema of settings (a CLI flag `--NAME` and a TOML profile
// key `NAME` are one entry, with one parser and default), profiles, and the resolved policy
// as JSON. The front ends build their options from it; a library caller may too.
#pragma once

#include <caisson/policy.hpp>

#include <span>
#include <string>
#include <string_view>

namespace caisson {

namespace schema {

struct Setting {
    std::string_view name;     // flag without "--", and profile key
    int arity;                 // 0: a switch; 1 or 2: that many values per use
    bool repeatable;           // a list in TOML; may be given many times on the command line
    std::string_view metavar;  // for --help
    std::string_view help;
    // Applies one use. Switches receive {"true"} or {"false"}. Throws caisson::Error.
    void (*apply)(Policy&, std::span<const std::string> args);
};

std::span<const Setting> settings();
const Setting* find(std::string_view name);

}  // namespace schema

// Applies a profile: a FILE, or a NAME looked up on $CAISSON_PROFILE_PATH, then profiles/.
// Throws caisson::Error naming the file, line and column.
void apply_profile(Policy& policy, std::string_view name_or_file);

// The resolved policy, every part of it, as JSON (`caisson run --print-policy`).
std::string policy_to_json(const Policy& policy);

}  // namespace caisson
