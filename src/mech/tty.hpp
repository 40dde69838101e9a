// The terminal. By default the program gets a new session and so no controlling terminal:
// TIOCSTI into the caller's terminal then needs CAP_SYS_ADMIN in the host's namespace
// (CVE-2017-5226). With --tty it keeps the caller's session, and a seccomp filter refuses
// TIOCSTI and TIOCLINUX instead.
#pragma once

#include "run/failure.hpp"

#include <vector>

namespace caisson::mech {

// Compiles the filter (supervisor side, libseccomp) to raw BPF bytes. Throws caisson::Error.
std::vector<unsigned char> build_tty_filter();

// Child side: loads the compiled filter (needs no_new_privs first).
bool load_filter(const std::vector<unsigned char>& bpf, run::Failure& f);

bool detach_from_terminal(run::Failure& f);

// With --tty: a process group of its own (so kill(0) cannot reach the caller's group), made
// the terminal's foreground group when stdin is a terminal.
bool take_terminal_foreground(run::Failure& f);

// The caller's side: makes `pgrp` the foreground group of the terminal on stdin again.
void restore_terminal_foreground(pid_t pgrp);

}  // namespace caisson::mech
