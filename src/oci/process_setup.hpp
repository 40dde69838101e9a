// A container's process from OCI's `process` object, translated into the one launcher's
// run::ContainerProcess: rlimits, scheduling, identity, the five capability sets,
// no_new_privs, seccomp, and caisson's own protections from the annotations. Pure: it runs
// in the runtime, for the container's init (create) and for exec.
#pragma once

#include "oci/spec.hpp"

#include "mech/console.hpp"
#include "run/container_monitor.hpp"
#include "run/container_process.hpp"
#include "run/failure.hpp"

#include <optional>
#include <string>
#include <vector>

namespace caisson::oci {

// What a container's process is, from OCI's `process` (and the config around it).
struct ProcessPlan {
    run::ContainerProcess process;       // carried out by run/container_process
    std::string listener_path;           // OCI listenerPath: where the notify fd goes
    std::vector<uint16_t> initial_cpus;  // execCPUAffinity.initial, exec's only
    Egress egress;                       // an annotation's, attached to the container's cgroup
    // An annotation's [[supervise]] rules or BPF LSM programs: caisson's monitor stays beside
    // the container (run/container_monitor).
    std::optional<run::MonitorPlan> monitor;
    BpfLsm bpf_lsm;                      // an annotation's, attached to the container's cgroup
};

// Throws caisson::Error (usage) naming the field: rlimit names, the seccomp section.
// `maps_runtime_uid`: whether the container's user namespace maps this runtime's own uid,
// which owns the cgroup's files (no user namespace of its own, or one whose map reaches it).
ProcessPlan plan_process(const Process& p, const Spec* spec, const std::string& container_id, bool maps_runtime_uid);

// process.terminal's pty: its size and owner; over /dev/console too for the container's init.
mech::ConsoleSpec console_spec(const Process& p, bool container_init);

// The runtime's descriptors that reach the process: 0, 1, 2 unless it gets a terminal, and
// `passed` more from 3 (LISTEN_FDS, --preserve-fds). Throws caisson::Error (usage) for one
// that is a directory or an O_PATH handle, a way out of the container's root.
void refuse_ways_out(bool terminal, unsigned passed);

// Sends the seccomp listener to an OCI listenerPath agent (SCM_RIGHTS, state as payload).
bool send_listener(int socket, int listener, const std::string& state, run::Failure& f);

}  // namespace caisson::oci
