// Learn mode's look behind a call's pointers: the real path an open reaches, the address a
// connect or bind names. It only records; the call then runs as the program made it
// (CONTINUE). A program that rewrites its memory meanwhile only misleads its own profile,
// which the verifying run then catches.
#pragma once

#include <caisson/sandbox.hpp>

#include <linux/seccomp.h>

#include <string>

namespace caisson::run {

// Whether `syscall` is one learn mode looks into.
bool learn_records(const std::string& syscall);

// Records what notification `n` of `syscall` (x86_64) points to into `out`.
void record_pointers(const seccomp_notif& n, const std::string& syscall, Outcome& out);

}  // namespace caisson::run
