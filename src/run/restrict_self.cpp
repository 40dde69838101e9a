// restrict_self: the mechanisms of the sandbox's last steps, applied to the calling process.
#include <caisson/error.hpp>
#include <caisson/restrict.hpp>

#include "filter/seccomp_compiler.hpp"
#include "mech/capabilities.hpp"
#include "mech/landlock.hpp"
#include "policy/landlock_rights.hpp"
#include "policy/profile.hpp"
#include "run/failure.hpp"

#include <dirent.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace caisson {
namespace {

[[noreturn]] void raise(const run::Failure& f) { throw Error(f.kind, f.step, f.object, f.err); }

// The threads of this process. Unknown is an error, not none: without a /proc of its own
// (a chroot, a tmpfs over it) the checks below would pass with threads running.
int thread_count() {
    int n = 0;
    DIR* d = ::opendir("/proc/self/task");
    if (!d) throw Error(ErrorKind::Setup, "restrict_self: count the threads", "/proc/self/task", errno);
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

bool has_permitted_capabilities() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &hdr, data) < 0) return true;  // unknown: assume some
    return data[0].permitted || data[1].permitted;
}

bool has_effective(int cap) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &hdr, data) < 0) return false;
    return (data[cap / 32].effective >> (cap % 32)) & 1;
}

}  // namespace

SelfPolicy self_policy_from_profile(const std::string& name_or_file) {
    Policy p;  // empty seccomp: only what the profile names
    profile::apply(p, name_or_file);
    SelfPolicy s;
    s.seccomp = p.seccomp;
    s.landlock = p.landlock;
    s.capabilities = p.capabilities;
    return s;
}

SelfReport restrict_self(const SelfPolicy& sp) {
    SelfReport report;
    run::Failure f;
    // Everything that can be refused is decided before anything is applied.
    if (sp.strict && sp.seccomp.mode == seccomp::Mode::Filter)
        throw Error::usage("restrict_self: strict mode and a seccomp filter exclude each other");
    // The calling process would be its own supervisor: a supervised call would wait forever.
    if (!sp.seccomp.supervised.empty() || sp.seccomp.open.enabled())
        throw Error::usage("restrict_self: [[supervise]] and [open] rules need a supervisor (run the code in a sandbox instead)");
    int threads = thread_count();
    if (sp.strict && threads > 1)
        throw Error::usage("restrict_self: strict mode covers the calling thread only; " + std::to_string(threads) +
                           " threads are running");
    landlock_rights::Plan ll;
    if (sp.landlock.enabled()) {
        if (threads > 1)
            throw Error::usage("restrict_self: Landlock restricts the calling thread only; call it before starting "
                               "threads (" + std::to_string(threads) + " are running)");
        ll = landlock_rights::plan(sp.landlock, mech::landlock_abi());
    }
    // Capabilities and no_new_privs are per thread too: the other threads would keep them.
    if (threads > 1 && has_permitted_capabilities())
        throw Error::usage("restrict_self: capabilities are dropped on the calling thread only; call it before starting "
                           "threads (" + std::to_string(threads) + " are running)");
    std::vector<sock_filter> program;
    if (sp.seccomp.mode == seccomp::Mode::Filter) program = filter::compile(sp.seccomp).program;

    uint64_t keep = 0;
    for (int cap : sp.capabilities)
        if (cap >= 0 && cap < 64) keep |= 1ull << cap;
    // The bounding set needs CAP_SETPCAP, which an unprivileged process lacks: it has
    // nothing to drop there but its (empty) permitted set.
    bool privileged = has_effective(CAP_SETPCAP);
    if (privileged && !mech::restrict_capability_sets(keep, f)) raise(f);
    if (!mech::set_kept_capabilities(keep, f)) raise(f);
    report.applied.emplace_back(keep ? "capabilities-kept" : "capabilities-dropped");
    if (!mech::set_no_new_privs(f)) raise(f);
    report.applied.emplace_back("no-new-privs");
    if (sp.landlock.enabled()) {
        // Best effort on a kernel without Landlock (or without any right asked for) plans
        // nothing to enforce: nothing is applied, and the report says what was not.
        if (ll.enforces() && !mech::apply_landlock(ll, f)) raise(f);
        for (const auto& r : ll.enforced) report.applied.push_back("landlock " + r);
        report.not_enforced = ll.not_enforced;
    }
    if (!program.empty()) {
        sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
        if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
            throw Error(ErrorKind::Setup, "install seccomp filter (all threads)", sp.seccomp.name, errno ? errno : ESRCH);
        report.applied.push_back("seccomp " + sp.seccomp.name);
    }
    if (sp.strict) {
        if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) < 0)
            throw Error(ErrorKind::Setup, "enter SECCOMP_MODE_STRICT", "calling thread", errno);
        report.applied.emplace_back("seccomp strict");
    }
    return report;
}

}  // namespace caisson
