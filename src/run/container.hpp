// The one launcher's container ending: an init that builds the sandbox, waits at a start
// barrier, then execs the program in its own place, as PID 1 (OCI's create and start: the
// pid a client is given is the program's, as runc and crun have it). `caisson run`'s init
// (run/init) instead stays beside its program and reports its end. Both are cloned by
// mech/clone, close every host descriptor first, and end in the same last steps
// (run/program_steps); the setup order, top to bottom, is barrier_init() in container.cpp.
//
// The plan is plain data, filled by a face before clone (oci/container translates
// config.json); the face's lifecycle hooks are callbacks at named points.
#pragma once

#include "kernel/fd.hpp"
#include "mech/mount_list.hpp"
#include "run/container_process.hpp"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace caisson::run {

struct ContainerPlan {
    uint64_t clone_flags = 0;  // CLONE_NEW* made by clone (not time, not cgroup: see below)
    int cgroup_fd = -1;        // a cgroup v2 directory to be born in, or -1
    bool new_userns = false;   // the init sets its ids to root inside for the setup
    // The runtime is the host's root: the init and the helper that clones it are not dumpable
    // from their first step, before they are in any namespace of the container's. An ordinary
    // user's runtime writes the init's id maps through its /proc/PID files, which the kernel
    // gives to root while the init is not dumpable: that init becomes so once it has them.
    // Meanwhile only that user's own processes outside any user namespace may trace it: one
    // in another container's needs CAP_SYS_PTRACE in the init's new namespace.
    bool runtime_is_root = true;
    bool new_cgroupns = false; // made by the init once the runtime has moved it into its cgroups
    // Existing namespaces (CLONE_NEW* flag, path), joined by a helper that then clones the
    // init (the runtime never enters them); the user namespace last as root, first as an
    // ordinary user (whose capabilities are there only). A joined mount
    // namespace is where the init builds the root, as runc does.
    std::vector<std::pair<int, std::string>> join_namespaces;
    bool joined_userns = false;  // one of them: the init sets its ids to root inside, as with new_userns
    // A time namespace, made by that helper before clone: its offsets can only be written
    // before any process is in it, and the init is the program, so no child enters it later.
    bool new_timens = false;
    std::string timens_offsets;  // "monotonic SECS NSECS\n" lines
    std::string uid_map, gid_map;  // with new_userns: written by the runtime ("IN HOST N\n" lines)
    std::optional<int> oom_score_adj;

    std::vector<std::pair<std::string, std::string>> sysctls;
    mech::ListRootPlan root;
    bool bring_up_loopback = false;  // a new network namespace
    // The init joins this session keyring ("_ses.ID", runc's name), the caller's stays
    // behind; empty: the caller's is kept (--no-new-keyring).
    std::string session_keyring;
    std::optional<std::string> hostname, domainname;
    ContainerProcess process;

    // Descriptors the init keeps (besides its channel): the console socket, the start
    // socket, the idmapped trees, the preserved ones. Every other one is closed.
    int console_socket = -1;
    int start_socket = -1;  // listening; `start` connects
    std::vector<int> keep_fds;
};

// The face's points in the lifecycle. The init's run in the init (a copy of the runtime,
// in the container's namespaces); each returns "" or the one-line error that stops it.
struct ContainerHooks {
    // In the runtime, once the namespaces exist and before the root is built (OCI's
    // prestart and createRuntime). Unset: no round trip.
    std::function<std::string()> runtime_created;
    // In the init, after the mounts and before pivot_root (createContainer).
    std::function<std::string()> init_created;
    // In the init, once `start` connected, before exec (startContainer).
    std::function<std::string()> init_starting;
    // In the runtime, right after clone: the face owns the pidfd (and kills the init if
    // create does not finish).
    std::function<void(pid_t pid, int pidfd)> cloned;
    // In the runtime, when the init is ready and waits at the barrier: the filter's
    // listener, if it has one (-1 otherwise), is the face's to pass on.
    std::function<void(kernel::Fd listener)> ready;
};

// The runtime's side of create: clones the init (through a helper that joins namespaces
// first, when there are some to join or a time namespace to make), writes its maps, joins it to the v1
// hierarchies of `join_v1` (called with its pid), runs the hooks at their points, and
// returns once the init waits at the barrier. Throws caisson::Error, the init's own failure
// as it reported it.
pid_t spawn_container(ContainerPlan& plan, const ContainerHooks& hooks, const std::function<void(pid_t, bool)>& join_cgroups);

// `start`: the barrier's other side. Connects to the init's start socket and returns its
// answer: "" when the program is being exec'd, else why not.
std::string release_container(const std::string& start_socket_path);

}  // namespace caisson::run
