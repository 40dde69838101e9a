// What this host gives caisson, measured for the user who asks: one check per mechanism,
// each with what was seen and, when it fails, the fix. `caisson doctor` prints it.
#pragma once

#include <string>
#include <vector>

namespace caisson::doctor {

enum class Status { Works, Fails, NotApplicable };

struct Check {
    std::string name;    // "user namespaces", "Landlock", ...
    Status status = Status::Works;
    std::string detail;  // what was measured ("ABI 7", "the kernel refused them (EPERM)")
    std::string fix;     // how to make it work, when it fails and there is a way
};

struct Report {
    std::vector<Check> checks;
    // Whether `caisson run -- /bin/true` with every default works here (it was run).
    bool default_run_works = false;
    std::string default_run_error;  // its one-line error otherwise
    // What runs here when the default does not: "--no-namespaces", or "".
    std::string best_available;
};

// Measures every check. `caisson_dir`: where the caisson executables are (for helpers).
Report examine();

const char* status_name(Status s);

}  // namespace caisson::doctor
