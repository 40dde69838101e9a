// The resolved policy as JSON, for --print-policy. Read-only view; no parsing back.
#pragma once

#include <caisson/policy.hpp>

#include <string>

namespace caisson {

std::string policy_to_json(const Policy& policy);

}  // namespace caisson
