// A process's identity across pid reuse: its pid and start time (field 22 of
// /proc/PID/stat). Used to tell whether a supervisor that left state behind still runs.
#pragma once

#include <sys/types.h>

#include <string>

namespace caisson::mech {

// "" when the process does not exist.
std::string process_start_time(pid_t pid);

}  // namespace caisson::mech
