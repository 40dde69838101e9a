// `caisson learn [RUN OPTIONS] [--output FILE] [--profile-output FILE] [--merge FILE]...
// [--no-verify] -- PROGRAM`: runs the program in a permissive sandbox that records its
// system calls, the real paths it opens and the addresses it connects to and binds; writes a
// seccomp policy for them (with `[open]` rules for the paths) and, when asked, a run profile
// around it (Landlock's TCP ports); then runs the program again under them with the same
// input to check that it behaves the same (exit status and output).
#pragma once

#include <caisson/policy.hpp>
#include <caisson/sandbox.hpp>

#include <string>
#include <vector>

namespace caisson {

struct LearnOptions {
    std::string output = "learned.toml";
    std::string profile_output;  // a run profile around the policy, with Landlock's ports

    std::vector<std::string> merge;
    bool verify = true;
};

// The policy file's text for what one learning run found (`caisson run --learn`): the
// calls, their argument values and the paths, for a run of `argv`; `calls` gets how many
// system calls it allows.
std::string learned_policy_text(const Outcome& out, const std::vector<std::string>& argv, const std::string& how,
                                size_t* calls = nullptr);

// `caisson learn`. Exit status: the program's first run when the check agrees (or is
// skipped); 125 when the second run behaved differently.
int learn(const LearnOptions& opts, Policy policy);

}  // namespace caisson
