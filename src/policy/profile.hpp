// TOML profiles: the same settings as the CLI flags, by the same names, read through the
// one schema. A profile may `extends = "other"`; later settings win.
#pragma once

#include <caisson/policy.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace caisson::profile {

// Where `--profile NAME` looks: $CAISSON_PROFILE_PATH (colon-separated), then the
// profiles installed with caisson.
std::vector<std::string> search_path();

// A path for FILE (anything with a '/' or ending in .toml) or NAME (looked up in search_path).
std::string locate(std::string_view name_or_file);

// Applies the profile, after the profiles it extends, onto `policy`.
void apply_file(Policy& policy, const std::string& path);
void apply(Policy& policy, std::string_view name_or_file);

// Applies TOML text (for tests and embedders); `origin` names it in errors.
void apply_text(Policy& policy, std::string_view text, const std::string& origin);

}  // namespace caisson::profile
