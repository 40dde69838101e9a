// The terminal. By default the program gets a new session and so no controlling terminal:
// TIOCSTI into the caller's terminal then needs CAP_SYS_ADMIN in the host's namespace
// (CVE-2017-5226). With --tty it keeps the caller's session, and the seccomp filter refuses
// TIOCSTI and TIOCLINUX instead (preflight adds that rule in front of the policy's).
#pragma once

#include "kernel/failure.hpp"

#include <sys/types.h>

namespace caisson::mech {

bool detach_from_terminal(kernel::Failure& f);

// With --tty: a process group of its own (so kill(0) cannot reach the caller's group), made
// the terminal's foreground group when stdin is a terminal.
bool take_terminal_foreground(kernel::Failure& f);

// The caller's side: makes `pgrp` the foreground group of the terminal on stdin again.
void restore_terminal_foreground(pid_t pgrp);

}  // namespace caisson::mech
