// The runtime in the foreground (`run`, `exec` without --detach): it forwards the signals it
// is sent to the process, waits for it, and exits as the process did.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

namespace caisson::oci {

// `set` is blocked by the caller and holds SIGCHLD: each signal in it but SIGCHLD goes to
// `pid` (a child of this process) until it ends. Returns its wait status.
int forward_until_exit(pid_t pid, const sigset_t& set);

// A wait status as a shell's exit code: the code, or 128 + the signal.
inline int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace caisson::oci
