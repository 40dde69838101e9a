// The last steps of every sandboxed program before its exec, in one order for every face:
// `caisson run`'s program, an OCI container's process, and `caisson-oci exec`'s. Limits and
// scheduling, descriptors, identity and capabilities, no_new_privs, Landlock, the working
// directory resolved inside the root, then seccomp. Decided before clone (plain data);
// applied without allocating (by the sandbox's first process, or by `caisson-oci exec`'s
// helper before it clones the process), since it may share its parent's memory (vfork).
#pragma once

#include "kernel/failure.hpp"
#include "mech/capabilities.hpp"
#include "policy/landlock_rights.hpp"

#include <caisson/policy.hpp>

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace caisson::run {

// sched_setattr's fields (OCI's process.scheduler).
struct Scheduling {
    uint32_t policy = 0;
    uint64_t flags = 0;
    int32_t nice = 0;
    uint32_t priority = 0;
    uint64_t runtime = 0, deadline = 0, period = 0;
};

struct ProgramSteps {
    // Limits and scheduling, first, while still privileged.
    std::vector<Rlimit> rlimits;
    std::optional<unsigned long> personality;
    std::optional<Scheduling> scheduling;
    std::optional<int> io_priority;  // ioprio_set's value: class << 13 | level
    std::vector<uint16_t> cpu_affinity;  // the CPUs it may run on; empty: as it is

    // Descriptors: all are closed but stdio, `pass_fds` (sorted; kept across exec) and the
    // face's own pipes and sockets named at the call (close-on-exec, none a way to a
    // directory), before anything resolves the working directory (CVE-2024-21626).
    std::vector<int> pass_fds;

    // Identity: the capability sets, and with change_ids the ids and groups, in the one
    // order that works (mech/capabilities); lock_securebits keeps root from regaining them.
    mech::CapabilitySets caps;
    bool lock_securebits = true;
    bool change_ids = false;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    bool keep_groups = false;  // setgroups is denied where the process is (mech::IdChange)
    bool chown_stdio = false;  // stdio pipes given to `uid`, so that it may reopen them (runc's fix)
    bool no_new_privs = true;
    // AppArmor's profile for the exec (an OCI config's process.apparmorProfile), named while
    // still privileged and before no_new_privs, as runc does; empty: none.
    std::string apparmor_profile;
    bool landlock = false;
    landlock_rights::Plan landlock_plan;
    std::optional<mode_t> umask;

    // The working directory, resolved inside the root (RESOLVE_IN_ROOT), entered with fchdir
    // as the program's own user; `cwd_label` names it in errors.
    std::string cwd;
    std::string cwd_label;

    // Seccomp, last. With filter_first (an OCI process without no_new_privs, which an
    // unprivileged process could not install a filter without) it goes in before the
    // identity change and must then allow the steps after it; the working directory is
    // then resolved before it too (the filter need not allow openat2).
    std::vector<sock_filter> seccomp;
    unsigned seccomp_flags = 0;
    bool seccomp_listener = false;  // the filter returns user notifications: *listener gets them
    bool filter_first = false;
    // The face's own filter that the config cannot turn off (caisson-oci's oci-no-userns):
    // it goes in just before `seccomp`, at the same moment, and allows caisson's steps.
    std::vector<sock_filter> guard;
    // The working directory resolved while still root (runc's order: a WORKDIR below a
    // directory only root may search still works), entered as the program's user.
    bool cwd_before_identity = false;
};

// What the face does between the steps, once the program's privileges are taken and before
// the working directory and the filter: allocation-free.
struct StepHook {
    bool (*run)(void* ctx, kernel::Failure& f) = nullptr;
    void* ctx = nullptr;
};

// sched_setattr of `pid` (0: the caller) to `sched`. Allocation-free.
bool apply_scheduling(pid_t pid, const Scheduling& sched, kernel::Failure& f);

// Takes every step but exec. `runtime_fds`: the face's own descriptors kept until exec.
// `*filtered` tells whether the filter is in (a failure after it may call only what it allows).
bool take_program_steps(const ProgramSteps& s, std::initializer_list<int> runtime_fds, int* listener, bool* filtered,
                        kernel::Failure& f, StepHook after_privileges = {});

}  // namespace caisson::run
