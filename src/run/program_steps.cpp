#include "run/program_steps.hpp"

#include "kernel/fd.hpp"
#include "mech/apparmor.hpp"
#include "mech/fds.hpp"
#include "mech/landlock.hpp"
#include "mech/rlimits.hpp"
#include "mech/seccomp.hpp"
#include "mech/workdir.hpp"

#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace caisson::run {
namespace {

struct SchedAttr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

// A process that is not root can reopen its stdio (/proc/self/fd/0, /dev/stdout) only if the
// pipes are its own: anonymous pipes only (pipefs), and only what is not already its. Never a
// character device (/dev/null, a terminal of the host's), and never a file or a named FIFO
// of the host's filesystem: a caller's `> log` would become the container user's to open
// again and to change the mode of (runc hands it over; an attack run read a root file
// through it). A socket cannot be reopened through /proc at all.
void chown_stdio(uid_t uid) {
    for (int fd = 0; fd < 3; ++fd) {
        struct stat st{};
        struct statfs fs{};
        if (::fstat(fd, &st) < 0 || st.st_uid == uid || !S_ISFIFO(st.st_mode) || ::fstatfs(fd, &fs) < 0 ||
            fs.f_type != PIPEFS_MAGIC)
            continue;
        (void)::fchown(fd, uid, static_cast<gid_t>(-1));  // EPERM or EINVAL: nothing more to do
    }
}

// The guard first: the config's filter then judges nothing of caisson's between the two.
bool install_filters(const ProgramSteps& s, int* listener, kernel::Failure& f) {
    if (!s.guard.empty() && !mech::install_seccomp(s.guard, nullptr, f)) return false;
    if (s.seccomp.empty()) return true;
    return mech::install_seccomp(s.seccomp, s.seccomp_listener ? listener : nullptr, f, s.seccomp_flags);
}

}  // namespace

bool apply_scheduling(pid_t pid, const Scheduling& sched, kernel::Failure& f) {
    SchedAttr a{sizeof(SchedAttr), sched.policy, sched.flags, sched.nice, sched.priority, sched.runtime, sched.deadline, sched.period};
    if (::syscall(SYS_sched_setattr, pid, &a, 0) < 0) return f.set("sched_setattr", "process.scheduler");
    return true;
}

bool take_program_steps(const ProgramSteps& s, std::initializer_list<int> runtime_fds, int* listener, bool* filtered,
                        kernel::Failure& f, StepHook after_privileges) {
    *filtered = false;
    // 1. Limits and scheduling.
    if (!mech::apply_rlimits(s.rlimits, f)) return false;
    if (s.personality && ::personality(*s.personality) < 0) return f.set("personality", "linux.personality");
    if (s.scheduling && !apply_scheduling(0, *s.scheduling, f)) return false;
    if (!s.cpu_affinity.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (uint16_t cpu : s.cpu_affinity) CPU_SET(cpu, &set);
        if (::sched_setaffinity(0, sizeof(set), &set) < 0) return f.set("sched_setaffinity", "process.execCPUAffinity.final");
    }
    if (s.io_priority && ::syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, *s.io_priority) < 0)
        return f.set("ioprio_set", "process.ioPriority");

    // 2. Descriptors: closed, not marked.
    if (!mech::close_fds_except(s.pass_fds, runtime_fds, f)) return false;
    if (!mech::pass_fds_through_exec(s.pass_fds, f)) return false;

    // 3. The working directory, when it is resolved as root; a filter that must go in while
    // still privileged (after it: the filter need not allow openat2).
    kernel::Fd cwd;
    const bool early_filter = s.filter_first && (!s.seccomp.empty() || !s.guard.empty());
    if ((early_filter || s.cwd_before_identity) && !s.cwd.empty()) {
        cwd.reset(mech::open_workdir(s.cwd.c_str(), f));
        if (!cwd) return f.set("chdir", s.cwd_label.c_str(), f.err);
    }
    if (early_filter) {
        if (!install_filters(s, listener, f)) return false;
        *filtered = true;
    }

    // 4. AppArmor's profile for the exec, identity, capabilities, no_new_privs, Landlock.
    if (!s.apparmor_profile.empty() && !mech::set_apparmor_exec_profile(s.apparmor_profile, f)) return false;
    if (s.chown_stdio) chown_stdio(s.uid);
    const mech::IdChange ids{s.uid, s.gid, s.groups.data(), s.groups.size(), s.keep_groups};
    if (!mech::take_capabilities(s.caps, s.change_ids ? &ids : nullptr, s.lock_securebits, f)) return false;
    if (s.no_new_privs && !mech::set_no_new_privs(f)) return false;
    if (s.landlock && !mech::apply_landlock(s.landlock_plan, f)) return false;
    if (after_privileges.run && !after_privileges.run(after_privileges.ctx, f)) return false;

    // 5. The working directory, as the program's own user, inside its root only.
    if (!s.cwd.empty()) {
        if (!cwd) {
            cwd.reset(mech::open_workdir(s.cwd.c_str(), f));
            if (!cwd) return f.set("chdir", s.cwd_label.c_str(), f.err);
        }
        if (!mech::enter_workdir(cwd.get(), s.cwd_label.c_str(), f)) return false;
        // Closed before the filter, which may not allow close (strict mode does not).
        cwd.reset();
    }
    if (s.umask) ::umask(*s.umask);

    // 6. Seccomp, last.
    if (!*filtered && (!s.seccomp.empty() || !s.guard.empty())) {
        if (!install_filters(s, listener, f)) return false;
        *filtered = true;
    }
    return true;
}

}  // namespace caisson::run
