// seccomp policies in TOML, caisson's own syntax:
//
//   extends = "default"              # optional: a built-in name or a file
//   default = "errno(EPERM)"         # the action for calls no rule decides
//   abi = ["x86_64"]                 # ABIs admitted; calls from any other are killed
//   allow = ["read", "write"]        # shorthand: unconditional allow rules, after [[rule]]
//   [[rule]]
//   syscall = ["ioctl"]              # one name or a list
//   action = "errno(EPERM)"          # allow, errno(N|NAME), kill-thread, kill-process
//                                    # (kill), trap, log, trace(N), notify
//   if = "arg1 == TIOCSTI || arg1 == TIOCLINUX"
//
// The first rule that matches a call decides it. A profile's rules come before those of
// the profile it extends, so it can make exceptions; its allow list after all rules.
// Pure parsing (and reading the file): no other system calls.
#pragma once

#include <caisson/seccomp.hpp>

#include <string>
#include <string_view>

namespace caisson::seccomp_profile {

// "none", a built-in or installed name (default, strict, ...), or a TOML file.
seccomp::Policy load(std::string_view name_or_file);
seccomp::Policy parse_text(std::string_view text, const std::string& origin);

// "errno(EPERM)", "kill", ... Throws caisson::Error (usage).
seccomp::Action parse_action(std::string_view text);

// The built-in policies' TOML text, compiled into caisson (generated at build time from
// profiles/seccomp/).
std::string_view builtin_text(std::string_view name);

}  // namespace caisson::seccomp_profile
