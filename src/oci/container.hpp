// `create`: the runtime's side (state directory, cgroup, namespaces joined or made, id
// maps, hooks) and the container's init (root filesystem, terminal, identity, seccomp),
// which then waits on the start socket and execs the user's process as itself: the pid in
// the pid file is the container's process, as runc and crun have it.
#pragma once

#include <sys/types.h>

#include <string>

namespace caisson::oci {

struct CreateOptions {
    std::string root, id, bundle, pid_file, console_socket;
    bool no_pivot = false;
    bool no_new_keyring = false;
    unsigned preserve_fds = 0;
    // systemd's socket activation: the caller's LISTEN_FDS descriptors (3 .. 3+N-1, before
    // the preserved ones) pass in, and the process gets LISTEN_FDS=N and LISTEN_PID=1.
    unsigned listen_fds = 0;
};

// LISTEN_FDS of this process's environment when LISTEN_PID names this process, else 0.
unsigned activation_fds();

// Returns the init's pid (a child of this process). Throws caisson::Error; on any failure
// nothing is left: no state directory, cgroup, mount or process.
pid_t create_container(const CreateOptions& o);

// `start`: lets the created container's init exec its process; runs poststart hooks.
void start_container(const std::string& root, const std::string& id);

}  // namespace caisson::oci
