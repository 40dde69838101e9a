// Everything the sandbox's init and program need, computed by the supervisor before clone.
// The child only reads it (and fills the preallocated descriptor slots): the code between
// clone and exec never allocates.
#pragma once

#include "mech/mounts.hpp"
#include "run/program_steps.hpp"

#include <caisson/policy.hpp>

#include <linux/filter.h>
#include <sys/syscall.h>

#include <sys/types.h>

#include <csignal>

#include <cstdint>
#include <string>
#include <vector>

namespace caisson::run {

struct LaunchPlan {
    const Policy* policy = nullptr;
    uint64_t clone_flags = 0;
    bool new_userns = false;
    bool as_root = false;  // the caller is the host's root
    // Init drops its supplementary groups (the maps leave setgroups allowed): the caller may
    // allow setgroups, being root where its own user namespace allows it.
    bool drop_groups = false;
    // An anonymous session keyring of the sandbox's own, joined by init before anything of the
    // program's starts (runc's and crun's): without it the program possesses the caller's
    // session keyring, and with the key calls allowed reads, plants or revokes its keys.
    // Without a filter, or one that lets a key call through.
    bool new_session_keyring = true;

    // Filesystem: what mech/mounts builds the root from.
    mech::RootPlan root;

    // cgroup: joined after clone on v1, so the cgroup namespace is made by init once it is in.
    bool cgroupns_after_join = false;

    // Time namespace: the text for /proc/self/timens_offsets, empty for zero offsets.
    bool new_timens = false;
    std::string timens_offsets;

    // Program
    std::vector<std::string> env_storage;
    std::vector<char*> envp;                // null-terminated
    std::vector<char*> argv;                // null-terminated
    std::vector<std::string> exec_candidates;  // argv[0] resolved against the sandbox's PATH
    // A sandbox made ahead of its program (a warm pool): init waits, ready, before the
    // program's spawn, and takes the program from the supervisor (run/prepared_program.hpp).
    // Then these point into init's own copy, in place of the three above.
    bool hold_for_program = false;
    char* const* held_candidates = nullptr;
    char* const* held_argv = nullptr;
    char* const* held_envp = nullptr;
    // Settings of the sandbox's own namespaces, written by init beneath a checked procfs root
    // (which shows the writer's namespaces): paths under /proc ("sys/user/max_inotify_watches")
    // and their values. And under pasta, its network namespace's tcp_wmem held to this (0: left
    // alone; mech/pasta.hpp says why).
    std::vector<std::pair<std::string, std::string>> sysctls;
    long tcp_wmem_cap = 0;
    // Under pasta, its device, whose link state init makes current (mech/tap.hpp); or null.
    const char* settle_link = nullptr;

    // The program's last steps (run/program_steps), the ones every face takes: its ids
    // (steps.uid/gid, also init's inside a user namespace), rlimits (the policy's and the
    // ceilings'), --pass-fd, capabilities, Landlock, the filter.
    ProgramSteps steps;
    // The same policy with kill-process as itself: the supervisor evaluates it on a
    // notification to learn which rule fired.
    std::vector<sock_filter> seccomp_truth;
    int seccomp_listener_fd = -1;               // set by the program's process (shared memory)
    // The program's process hands the listener to the supervisor itself, before exec: its
    // own execve is a notification the supervisor must be listening for.
    bool seccomp_listener_early = false;
    std::vector<seccomp::Supervised> seccomp_supervised;  // decided by the supervisor
    // The supervisor answers notifications that let calls go on, many of them: supervised
    // calls, [open] rules, notify rules, --monitor's refusals. (Otherwise the only ones are
    // the kill rules', which end the sandbox.) They get a thread of their own where it can be
    // used (run/notify_thread).
    bool seccomp_decides_often = false;
    // `[open]` rules: init starts the opener (run/opener) with the program's privileges on
    // this end of a socket pair; the supervisor holds the other.
    seccomp::OpenRules open_rules;
    int opener_fd = -1;
    // What the program's process may still call after the filter, if exec fails.
    bool seccomp_allows_write = true;
    long seccomp_exit_nr = SYS_exit_group;      // or SYS_exit

    sigset_t caller_sigmask{};  // restored in the program before exec
    int channel = -1;           // init's end of the setup channel
};

}  // namespace caisson::run
