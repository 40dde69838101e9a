// caisson's companion programs (the plug-in worker, the network helper): found through an
// environment variable, else beside the running executable, else where `cmake --install`
// put them; and run to completion with their output captured.
#pragma once

#include <spawn.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace caisson::mech {

std::string companion_path(const char* name, const char* env_var, const char* installed);

// For a companion that root runs: `path`, its links resolved, must be a regular file owned
// by root that no group or other user may write, in directories of the same kind up to /
// (else the owner of one of them could swap it; a sticky one, like /tmp, lets no one else
// rename root's files). Returns the resolved path, to run that and not what the
// links may lead to later; throws caisson::Error naming `step`, the path, its owner and mode.
std::string require_root_owned(const std::string& path, const char* step);

// posix_spawn of `path` with a clean signal mask, every signal at its default, the file
// actions `fa`, and, with `new_session`, in a session of its own. Returns its pid; throws
// caisson::Error naming `step`, `path` and why it could not start.
pid_t spawn_clean(const char* step, const std::string& path, char* const argv[], char* const envp[], const posix_spawn_file_actions_t* fa,
                  bool new_session);

// A helper that serves one run and goes with its caller (pasta, passt): forked,
// PR_SET_PDEATHSIG SIGKILL (which the kernel clears if the helper changes its ids: passt
// started by root becomes nobody, and ends instead with its socket's other end), moved into
// the cgroup whose cgroup.procs `cgroup_procs_fd` is (when not -1) before it execs, a clean
// signal mask, no environment, /dev/null as stdin and stdout, `stderr_fd` as stderr,
// `fds[i]` at descriptor 3 + i and no other descriptor. Returns its pid; throws
// caisson::Error naming `what` when the fork fails (any later failure is the child's exit 127).
// `path` is what is exec'd, `argv[0]` what it is told it is (pasta is passt by another name,
// and tells the two apart by it).
pid_t fork_tethered(const char* what, const std::string& path, const std::vector<std::string>& argv, int stderr_fd,
                    const std::vector<int>& fds, int cgroup_procs_fd = -1);

struct CompanionResult {
    int status = -1;  // exit code, or 128 + signal
    std::string out, err;
};

// Runs argv (argv[0] a path) with a clean signal mask and no descriptors but stdin
// (/dev/null), stdout and stderr (captured). Throws caisson::Error when it cannot start.
CompanionResult run_companion(const std::vector<std::string>& argv);

}  // namespace caisson::mech
