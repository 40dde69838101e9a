// caisson's seccomp compiler: a seccomp::Policy to classic BPF, in three parts.
//  1. A fixed prologue: the architecture, then the x32 bit. A call from an ABI the policy
//     does not list is killed (an i386 `int 0x80` or an x32 call would otherwise reach
//     different syscall numbers than the rules name).
//  2. Dispatch on the number: first the few syscalls whose action depends on arguments
//     (the shortest paths), then a balanced tree over ranges of syscalls decided by number
//     alone. Those never load an argument, so the kernel's action cache decides an allowed
//     one without running the filter at all.
//  3. Per argument-dependent syscall, its rules in order (first match wins), then the
//     default action.
// Pure: no system calls.
#pragma once

#include <caisson/seccomp.hpp>

#include <linux/filter.h>

#include <string>
#include <vector>

namespace caisson::filter {

struct CompileOptions {
    // Compile kill-process as a user notification, so that a supervisor can record the
    // call and its arguments before it kills the sandbox (the report then names it).
    bool kill_process_via_notify = false;
    // The same for errno but ENOSYS: the supervisor answers with the policy's errno, and
    // says so as it happens (--monitor).
    bool errno_via_notify = false;
    // Admit i386 rules on socket and IPC calls, which socketcall(2) and ipc(2) bypass there:
    // libseccomp's behaviour, which OCI configs (Docker's, Podman's) are written for.
    bool allow_multiplexed = false;
};

struct SyscallDecision {
    seccomp::Abi abi{};
    uint32_t nr = 0;
    std::string name;
    bool by_number = true;   // decided without reading arguments
    seccomp::Action action;  // the action when by_number
    size_t conditional_rules = 0;
};

struct Compiled {
    std::vector<sock_filter> program;           // empty for mode None
    std::vector<SyscallDecision> decisions;     // the syscalls the rules name, per ABI
    std::vector<std::string> warnings;          // rules that never match or are shadowed
};

// Throws caisson::Error (usage) for an unknown syscall, a value that does not fit a
// 32-bit argument, or a program over the kernel's size limit; messages name the rule.
Compiled compile(const seccomp::Policy& policy, const CompileOptions& options = {});

// The SECCOMP_RET_* value of an action, and back.
uint32_t ret_value(const seccomp::Action& action, bool kill_process_via_notify = false);
seccomp::Action action_of(uint32_t ret);

}  // namespace caisson::filter
