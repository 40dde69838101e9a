// The process that stays beside an OCI container for the protections that need a process
// of caisson's for the container's whole life: `[[supervise]]` rules (stateful decisions on
// seccomp notifications), and the BPF LSM programs, attached as long as it holds their links. `caisson run`
// supervises from its own process; caisson-oci's create returns at once, so it leaves this
// monitor behind, as crun and runc leave nothing and conmon stays: a fork of the runtime,
// outside the container's namespaces, non-dumpable, holding no descriptor but its own.
//
// Each process of the container that installs caisson's filter (the init just before it
// execs, and every `exec`) sends its listener over a connection to the monitor's socket,
// then execs. One decision state serves them all: a budget is the container's. The monitor
// ends with the container's init; a kill verdict kills the init, which takes its pid
// namespace along (the face requires one).
#pragma once

#include "kernel/fd.hpp"

#include <caisson/seccomp.hpp>

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace caisson::run {

struct MonitorPlan {
    std::vector<sock_filter> truth;  // the policy compiled as itself: which rule fired
    std::vector<seccomp::Supervised> supervised;
    // Descriptors the monitor holds for the container's life (the BPF LSM programs' links:
    // they stay attached as long as a descriptor does). Not owned; sorted by the monitor.
    std::vector<int> hold_fds;
    bool decides_calls() const { return !supervised.empty(); }
};

// The monitor's socket, made before the init is cloned: the init keeps `init_end`, a
// connection already queued, and sends its listener through it once it has one.
struct MonitorSocket {
    kernel::Fd listening;
    kernel::Fd init_end;
};

// Listens on `path` (mode 0600: the runtime's user only) and connects the init's end.
// Throws caisson::Error naming the step.
MonitorSocket open_monitor_socket(const std::string& path);

// Forks the monitor with the listening socket (closed here) and returns its pid. It exits
// when `init_pidfd` says the init has. Throws caisson::Error naming the step.
pid_t start_container_monitor(const MonitorPlan& plan, MonitorSocket& socket, int init_pidfd);

// In the process, just before exec: hands the filter's listener to the monitor and closes
// both. Allocation-free.
bool send_to_monitor(int monitor_fd, int listener);

}  // namespace caisson::run
