// The resolved policy as JSON, for --print-policy. Read-only view; no parsing back.
#pragma once

#include <caisson/policy.hpp>

#include <string>

#include <caisson/settings.hpp>  // policy_to_json is public
