// A process started in a running container (OCI's exec): a helper of the runtime joins the
// container's cgroups and namespaces (setns on the init's pidfd, all at once), takes the same
// last steps as every other process (run/container_process) but the scheduler, then clones
// the process with CLONE_PARENT, so that it is the runtime's child (waitable) and inside the
// container's pid namespace, holding no more than the program will. The runtime itself never
// enters the container; it sets the scheduler on the process by its pid.
#pragma once

#include "run/container_process.hpp"

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <optional>
#include <vector>

namespace caisson::run {

struct JoinPlan {
    pid_t init_pid = -1;  // the container's init
    int init_pidfd = -1;
    std::vector<std::string> cgroup_procs;  // each hierarchy's cgroup.procs of the container
    std::vector<uint16_t> initial_cpus;     // the helper's CPUs until it is in the cgroup
    ContainerProcess process;
    int console_socket = -1;                // with process.console
    bool new_session_keyring = true;        // an anonymous one of its own, not the caller's
    std::optional<int> oom_score_adj;       // the process's, from its spec or the container's
    char marker[16] = {};                   // its name until its exec (set by join_container)
};

// Returns the process's pid once it has exec'd (a child of this process). Throws
// caisson::Error: the helper's or the process's own failure, as it reported it.
// `process_mask` is the signal mask the process starts with.
pid_t join_container(JoinPlan& plan, const sigset_t& process_mask);

}  // namespace caisson::run
