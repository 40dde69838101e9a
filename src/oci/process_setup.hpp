// The last steps of a container process, from OCI's `process` object: rlimits, scheduling,
// identity, the five capability sets, no_new_privs, seccomp, then exec. Shared by the
// container's init (after `start`) and by `exec`. Decided in the runtime, applied in the child.
#pragma once

#include "oci/spec.hpp"

#include "run/failure.hpp"
#include "run/program_steps.hpp"

#include <linux/filter.h>
#include <sys/resource.h>

#include <string>
#include <vector>

namespace caisson::oci {

struct ProcessPlan {
    const Process* process = nullptr;
    // The last steps, through the one path every face takes (run/program_steps).
    run::ProgramSteps steps;
    std::string listener_path;         // OCI listenerPath: where the notify fd goes
    unsigned preserve_fds = 0;         // 3 .. 3+N-1 stay open
    // The runtime's own descriptors the process still needs until exec (the setup channel,
    // the start socket): sockets only, close-on-exec. Every other one is closed.
    int runtime_fds[2] = {-1, -1};
    // Resolved in the container's filesystem (PATH from process.env) by resolve_executable.
    std::string executable;
    std::vector<std::string> env;
    // caisson's own protections an annotation asked for (oci/annotations): Landlock and a
    // filter stacked on the config's, taken just before exec; the egress filter, which create
    // attaches to the container's cgroup.
    std::optional<landlock_rights::Plan> landlock;
    std::vector<sock_filter> stacked_seccomp;
    Egress egress;
};

// Throws caisson::Error (usage) naming the field: rlimit names, the seccomp section.
ProcessPlan plan_process(const Process& p, const Spec* spec);

// In the container (after pivot_root): finds argv[0] along the PATH of process.env.
// Fails with runc's words when it is missing, so that clients map it to exit 127.
bool resolve_executable(ProcessPlan& plan, run::Failure& f);

// Everything before exec: rlimits, personality, scheduling, descriptors, identity,
// capabilities, no_new_privs, umask, cwd and the seccomp filter (its listener, for a
// SCMP_ACT_NOTIFY rule, in *listener).
bool prepare_identity_and_filter(ProcessPlan& plan, int* listener, run::Failure& f);

// execCPUAffinity.initial: the calling process's CPUs (`exec`'s helper, before it joins the
// container's cgroup). The lists are checked when the process is planned (plan_process).
bool apply_initial_affinity(const Process& p, run::Failure& f);

// Never returns on success. `f` tells what failed otherwise.
bool finish_and_exec(ProcessPlan& plan, run::Failure& f);

// Sends the seccomp listener to an OCI listenerPath agent (SCM_RIGHTS, state as payload).
bool send_listener(int socket, int listener, const std::string& state, run::Failure& f);

}  // namespace caisson::oci
