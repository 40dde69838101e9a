// Only 0, 1, 2 and the descriptors the policy names reach the program (CVE-2024-21626:
// a leaked descriptor to a host directory is a way out).
#pragma once

#include "kernel/failure.hpp"

#include <initializer_list>
#include <string>
#include <vector>

namespace caisson::mech {

// Closes every descriptor above 2 but those in `keep` (sorted) and the valid ones in `also`
// (at most 8, any order, -1 ignored). Closed, not marked close-on-exec: a descriptor that
// merely waits for exec is still there when the working directory is resolved, and
// /proc/self/fd/N leads out of the root through it. No allocation (it runs after clone).
bool close_fds_except(const std::vector<int>& keep, std::initializer_list<int> also, kernel::Failure& f);

// In the caller, before anything of a sandbox's is opened: each of 0, 1, 2 that is closed
// gets /dev/null. Otherwise the first descriptors caisson opens (a cgroup directory, the
// channel) would take those numbers, and the program would be handed them as its streams: a
// host directory at fd 0 is a way out (CVE-2024-21626).
bool fill_closed_stdio(kernel::Failure& f);

// Makes descriptors 0, 1, 2 copies of `from` (-1: /dev/null, opened here; a number equal to
// its slot: left as it is). The copies are taken before any slot is overwritten, so the
// sources may be any of 0, 1, 2 in any order. The sources themselves stay open (the caller
// closes them, or close_fds_except does). No allocation (it runs after clone).
bool redirect_stdio(const int (&from)[3], kernel::Failure& f);

// Once the sandbox's root is in place: the streams redirect_stdio gave the host's /dev/null
// (from[i] == -1) get the sandbox's own, so that the program holds no file of the host's
// devtmpfs. A root without a /dev/null of its own (a character device 1:3, reached without
// links) keeps the host's.
bool reopen_null_inside(const int (&from)[3], kernel::Failure& f);

// Whether the caller's descriptor `fd`, handed to a program, would be a way out of its root:
// a directory, or an O_PATH handle (which may be one), through fchdir or *at calls
// (CVE-2024-21626's class). Empty when it is not; the reason when it is, or when it cannot be
// examined (a closed descriptor: "N: Bad file descriptor").
std::string way_out_through(int fd);

// Clears close-on-exec on the passed descriptors, so that they survive the program's exec.
bool pass_fds_through_exec(const std::vector<int>& pass, kernel::Failure& f);

}  // namespace caisson::mech
