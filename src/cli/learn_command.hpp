// `caisson learn [RUN OPTIONS] [--output FILE] [--profile-output FILE] [--merge FILE]...
// [--no-verify] -- PROGRAM`: runs the program in a permissive sandbox that records its
// system calls, the real paths it opens and the addresses it connects to and binds; writes a
// seccomp policy for them (with `[open]` rules for the paths) and, when asked, a run profile
// around it (Landlock's TCP ports); then runs the program again under them with the same
// input to check that it behaves the same (exit status and output).
#pragma once

#include "policy/learned.hpp"

#include <caisson/policy.hpp>
#include <caisson/sandbox.hpp>

#include <string>
#include <vector>

namespace caisson::cli {

struct LearnOptions {
    std::string output = "learned.toml";
    std::string profile_output;  // a run profile around the policy, with Landlock's ports

    std::vector<std::string> merge;
    bool verify = true;
};

// What one learning run found (the calls learn mode lets through unrecorded included).
learned::Profile profile_of(const Outcome& out);
// The policy file's text for a run of `argv`.
std::string learned_text(const learned::Profile& p, const std::vector<std::string>& argv, const std::string& how);

// Exit status: the program's first run when the check agrees (or is skipped); 125 when the
// second run behaved differently.
int learn_command(const LearnOptions& opts, Policy policy);

}  // namespace caisson::cli
