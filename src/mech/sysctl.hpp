// Kernel parameters of the sandbox's own namespaces (net.*, kernel.shm*, ...), written
// through /proc/sys before the new root hides the host's procfs.
#pragma once

#include "kernel/failure.hpp"

#include <string>
#include <utility>
#include <vector>

namespace caisson::mech {

// Each key in its dotted form ("net.ipv4.ip_forward"); the first that cannot be written
// fails the step, naming the key.
bool write_sysctls(const std::vector<std::pair<std::string, std::string>>& values, kernel::Failure& f);

}  // namespace caisson::mech
