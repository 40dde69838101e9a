// A container's process, the one that execs in place of its init (OCI's create/start) or is
// started in a running container (exec): its last steps are the ones every face takes
// (run/program_steps); this adds what such a process needs around them: its program found
// along its own PATH inside the root, HOME from the root's /etc/passwd, and caisson's own
// protections (Landlock, a stacked filter) taken after every step of the runtime's.
// Decided by a face before clone (oci/process_setup fills it from config.json); carried out
// in the child, which is a copy of the runtime (allocation is safe).
#pragma once

#include "kernel/failure.hpp"
#include "mech/console.hpp"
#include "policy/landlock_rights.hpp"
#include "run/program_steps.hpp"

#include <linux/filter.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace caisson::run {

struct ContainerProcess {
    ProgramSteps steps;
    std::vector<std::string> args;  // args[0] is looked up along PATH of `env`
    std::vector<std::string> env;
    uid_t uid = 0;                  // whose home is HOME when `env` has none
    std::optional<mech::ConsoleSpec> console;  // a terminal of its own, sent to the console socket
    std::string create_cwd;         // made inside the root when missing (the init's, as runc)
    unsigned preserve_fds = 0;      // 3 .. 3+N-1 stay open
    // The runtime's own descriptors the process still needs until exec (the setup channel,
    // the start socket): sockets only, close-on-exec. Every other one is closed.
    int runtime_fds[2] = {-1, -1};
    std::string executable;         // found by resolve_executable
    // caisson's own protections, last, after the start handshake and the face's hooks.
    std::optional<landlock_rights::Plan> landlock;
    std::vector<sock_filter> stacked_seccomp;
    // A connection to the container's monitor (run/container_monitor), when the stacked
    // filter has supervised calls: its listener goes there just before exec. Kept like
    // runtime_fds, close-on-exec.
    int monitor_fd = -1;
};

// Inside the root (after pivot_root): HOME when missing, then args[0] along PATH. Fails with
// runc's words when it is missing, so that clients map it to exit 127.
bool resolve_executable(ContainerProcess& p, kernel::Failure& f);

// Every step but exec (run/program_steps), with the descriptors: stdio, the preserved ones
// and runtime_fds. A filter's listener, for user notifications, in *listener.
bool prepare_process(ContainerProcess& p, int* listener, kernel::Failure& f);

// caisson's own protections, then exec. Returns only on failure, `f` telling why.
bool exec_process(ContainerProcess& p, kernel::Failure& f);

// The CPUs the calling process may run on (OCI's execCPUAffinity.initial), before it joins
// the container's cgroup. Empty: as it is.
bool set_cpu_affinity(const std::vector<uint16_t>& cpus, const char* what, kernel::Failure& f);

}  // namespace caisson::run
