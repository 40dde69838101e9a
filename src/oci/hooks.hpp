// OCI hooks: each is run with the container's state JSON on its stdin, waited for with its
// timeout, and a failure (a non-zero exit, a signal, the timeout) is reported by name.
#pragma once

#include "oci/spec.hpp"

#include <string>
#include <vector>

namespace caisson::oci {

// Runs the hooks in order; stops at the first failure and returns its one-line message
// ("createRuntime hook /usr/bin/x: exit status 1"), or "" when all succeeded.
std::string run_hooks(const std::vector<Hook>& hooks, const char* stage, const std::string& state_json);

// For the stages whose failures are only warnings (poststart, poststop): every hook runs,
// whatever the ones before it did; the failures are returned, one line each.
std::vector<std::string> run_every_hook(const std::vector<Hook>& hooks, const char* stage, const std::string& state_json);

}  // namespace caisson::oci
