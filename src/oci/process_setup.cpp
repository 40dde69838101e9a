#include "oci/process_setup.hpp"

#include "filter/seccomp_compiler.hpp"
#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/capabilities.hpp"
#include "mech/fd_passing.hpp"
#include "mech/fds.hpp"
#include "mech/rlimits.hpp"
#include "mech/seccomp.hpp"
#include "mech/workdir.hpp"
#include "oci/seccomp_json.hpp"
#include "policy/values.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace caisson::oci {
namespace {

using run::Failure;

struct SchedAttr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

int sched_policy(const std::string& name) {
    if (name == "SCHED_FIFO") return SCHED_FIFO;
    if (name == "SCHED_RR") return SCHED_RR;
    if (name == "SCHED_BATCH") return SCHED_BATCH;
    if (name == "SCHED_IDLE") return SCHED_IDLE;
    if (name == "SCHED_DEADLINE") return 6;  // SCHED_DEADLINE (not in glibc's headers)
    return SCHED_OTHER;
}

uint64_t sched_flags(const std::vector<std::string>& names) {
    // include/uapi/linux/sched.h
    uint64_t bits = 0;
    for (const auto& n : names) {
        if (n == "SCHED_FLAG_RESET_ON_FORK") bits |= 0x01;
        else if (n == "SCHED_FLAG_RECLAIM") bits |= 0x02;
        else if (n == "SCHED_FLAG_DL_OVERRUN") bits |= 0x04;
        else if (n == "SCHED_FLAG_KEEP_POLICY") bits |= 0x08;
        else if (n == "SCHED_FLAG_KEEP_PARAMS") bits |= 0x10;
        else if (n == "SCHED_FLAG_UTIL_CLAMP_MIN") bits |= 0x20;
        else if (n == "SCHED_FLAG_UTIL_CLAMP_MAX") bits |= 0x40;
    }
    return bits;
}

// A process that is not root can reopen its stdio (/proc/self/fd/0, /dev/stdout) only if the
// pipes are its own: runc gives their owner to the process's uid, as here (not /dev/null's
// or a terminal of the host's: only what is not already its or a character device).
void fix_stdio_owner(uid_t uid) {
    for (int fd = 0; fd < 3; ++fd) {
        struct stat st{};
        if (::fstat(fd, &st) < 0 || st.st_uid == uid || S_ISCHR(st.st_mode)) continue;
        (void)::fchown(fd, uid, static_cast<gid_t>(-1));  // EPERM or EINVAL: nothing more to do
    }
}

// The config's five sets and its ids, through the one capabilities path (mech/capabilities),
// without caisson's locked securebits: an OCI container gets what its config says.
bool apply_capabilities(const CapabilitySets& c, uid_t uid, gid_t gid, const std::vector<uint32_t>& groups, Failure& f) {
    std::vector<gid_t> g(groups.begin(), groups.end());
    const mech::IdChange ids{uid, gid, g.data(), g.size()};
    return mech::take_capabilities({c.bounding, c.effective, c.permitted, c.inheritable, c.ambient}, &ids, false, f);
}

std::string env_value(const std::vector<std::string>& env, const char* name) {
    size_t n = std::strlen(name);
    for (const auto& e : env)
        if (e.size() > n && e.compare(0, n, name) == 0 && e[n] == '=') return e.substr(n + 1);
    return {};
}

}  // namespace

ProcessPlan plan_process(const Process& p, const Spec* spec) {
    ProcessPlan plan;
    plan.process = &p;
    plan.env = p.env;
    for (size_t i = 0; i < p.rlimits.size(); ++i) {
        const auto& r = p.rlimits[i];
        int res = values::rlimit_from_name(r.type.rfind("RLIMIT_", 0) == 0 ? r.type.substr(7) : r.type);
        if (res < 0) throw Error::usage("config.json: process.rlimits[" + std::to_string(i) + "].type: unknown limit \"" + r.type + "\"");
        if (r.soft > r.hard) throw Error::usage("config.json: process.rlimits[" + std::to_string(i) + "]: soft is above hard");
        plan.rlimits.push_back({res, r.soft, r.hard});
    }
    if (!p.apparmor_profile.empty())
        throw Error::usage("config.json: process.apparmorProfile: AppArmor is not enabled on this host");
    if (spec && spec->linux_.personality_domain)
        plan.personality = *spec->linux_.personality_domain == "LINUX32" ? PER_LINUX32 : PER_LINUX;
    if (spec && spec->linux_.seccomp) {
        SeccompTranslation t = translate_seccomp(*spec->linux_.seccomp);
        filter::CompileOptions opt;
        opt.allow_multiplexed = true;
        plan.seccomp = filter::compile(t.policy, opt).program;
        plan.seccomp_flags = t.filter_flags;
        plan.seccomp_notify = t.notify;
        plan.listener_path = spec->linux_.seccomp->listener_path;
        if (t.notify && plan.listener_path.empty())
            throw Error::usage("config.json: linux.seccomp: SCMP_ACT_NOTIFY needs a listenerPath");
    }
    return plan;
}

namespace {

// The home directory of `uid` in the container's /etc/passwd (looked up inside the root),
// "/" when it has none: what runc gives a process whose environment has no HOME.
std::string home_of(uint32_t uid) {
    kernel::Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    kernel::Fd fd(root ? kernel::openat2(root.get(), "etc/passwd", O_RDONLY | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) : -1);
    if (!fd) return "/";
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0 && text.size() < (1u << 20)) text.append(buf, static_cast<size_t>(n));
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream in(line);
        for (std::string field; std::getline(in, field, ':');) fields.push_back(field);
        if (fields.size() >= 6 && fields[2] == std::to_string(uid) && !fields[5].empty()) return fields[5];
    }
    return "/";
}

}  // namespace

bool resolve_executable(ProcessPlan& plan, Failure& f) {
    if (env_value(plan.env, "HOME").empty()) plan.env.push_back("HOME=" + home_of(plan.process->user.uid));
    const std::string& name = plan.process->args[0];
    auto runnable = [](const std::string& path, int& err) {
        struct stat st{};
        if (::stat(path.c_str(), &st) < 0) return err = errno, false;
        if (S_ISDIR(st.st_mode)) return err = EACCES, false;
        return true;
    };
    int err = ENOENT;
    if (name.find('/') != std::string::npos) {
        if (runnable(name, err)) return plan.executable = name, true;
        return f.set("exec", (err == ENOENT ? "exec: \"" + name + "\": stat " + name + ": no such file or directory"
                                            : "exec: \"" + name + "\"").c_str(), err, ErrorKind::Exec);
    }
    std::string path = env_value(plan.env, "PATH");
    if (path.empty()) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (size_t start = 0; start <= path.size();) {
        size_t end = path.find(':', start);
        if (end == std::string::npos) end = path.size();
        std::string dir = path.substr(start, end - start);
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        int e = 0;
        if (runnable(candidate, e)) return plan.executable = candidate, true;
        if (e != ENOENT && e != ENOTDIR) err = e;
        start = end + 1;
    }
    return f.set("exec", ("exec: \"" + name + "\": executable file not found in $PATH").c_str(), err == ENOENT ? ENOENT : err,
                 ErrorKind::Exec);
}

bool prepare_identity_and_filter(ProcessPlan& plan, int* listener, Failure& f) {
    const Process& p = *plan.process;
    if (!mech::apply_rlimits(plan.rlimits, f)) return false;
    if (plan.personality && ::personality(*plan.personality) < 0) return f.set("personality", "linux.personality");
    if (p.scheduler) {
        SchedAttr a{};
        a.size = sizeof(a);
        a.sched_policy = static_cast<uint32_t>(sched_policy(p.scheduler->policy));
        a.sched_nice = p.scheduler->nice;
        a.sched_priority = static_cast<uint32_t>(p.scheduler->priority);
        a.sched_flags = sched_flags(p.scheduler->flags);
        a.sched_runtime = p.scheduler->runtime;
        a.sched_deadline = p.scheduler->deadline;
        a.sched_period = p.scheduler->period;
        if (::syscall(SYS_sched_setattr, 0, &a, 0) < 0) return f.set("sched_setattr", "process.scheduler");
    }
    if (p.io_priority) {
        int klass = p.io_priority->klass == "IOPRIO_CLASS_RT" ? 1 : p.io_priority->klass == "IOPRIO_CLASS_BE" ? 2 : 3;
        if (::syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (klass << 13) | p.io_priority->priority) < 0)
            return f.set("ioprio_set", "process.ioPriority");
    }
    // Descriptors beyond stdio and --preserve-fds never reach the program (CVE-2024-21626):
    // closed now, before the working directory is resolved, all but the runtime's sockets
    // still needed until exec (close-on-exec, and no way to a directory).
    std::vector<int> keep = plan.runtime_fds;
    for (unsigned fd = 3; fd < 3 + plan.preserve_fds; ++fd) keep.push_back(static_cast<int>(fd));
    std::sort(keep.begin(), keep.end());
    if (!mech::close_fds_except(keep, {}, f)) return false;
    for (unsigned fd = 3; fd < 3 + plan.preserve_fds; ++fd) {
        int flags = ::fcntl(static_cast<int>(fd), F_GETFD);
        if (flags >= 0) ::fcntl(static_cast<int>(fd), F_SETFD, flags & ~FD_CLOEXEC);
    }
    // Resolved inside the root while still the container's root and before any filter of
    // the config's (which need not allow openat2); entered as the process's own user.
    kernel::Fd cwd(mech::open_workdir(p.cwd.c_str(), f));
    if (!cwd) return f.set("chdir", ("process.cwd " + p.cwd).c_str(), f.err);
    // Without no_new_privs an unprivileged process may not install a filter: install it
    // while still privileged (runc's order); it then has to allow the steps that follow.
    bool early_filter = !p.no_new_privileges && !plan.seccomp.empty();
    if (early_filter && !mech::install_seccomp(plan.seccomp, plan.seccomp_notify ? listener : nullptr, f, plan.seccomp_flags))
        return false;
    fix_stdio_owner(p.user.uid);
    if (!apply_capabilities(p.capabilities.value_or(CapabilitySets{}), p.user.uid, p.user.gid, p.user.additional_gids, f))
        return false;
    if (!mech::enter_workdir(cwd.get(), ("process.cwd " + p.cwd).c_str(), f)) return false;
    ::umask(p.user.umask.value_or(022));
    if (p.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return f.set("prctl", "PR_SET_NO_NEW_PRIVS");
    if (!early_filter && !plan.seccomp.empty() &&
        !mech::install_seccomp(plan.seccomp, plan.seccomp_notify ? listener : nullptr, f, plan.seccomp_flags))
        return false;
    return true;
}

bool finish_and_exec(ProcessPlan& plan, Failure& f) {
    std::vector<char*> argv, envp;
    for (const auto& a : plan.process->args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    bool has_home = !env_value(plan.env, "HOME").empty();
    std::string home = "HOME=/";
    for (const auto& e : plan.env) envp.push_back(const_cast<char*>(e.c_str()));
    if (!has_home) envp.push_back(home.data());
    envp.push_back(nullptr);
    ::execve(plan.executable.c_str(), argv.data(), envp.data());
    return f.set("exec", ("exec: \"" + plan.process->args[0] + "\"").c_str(), errno, ErrorKind::Exec);
}

bool send_listener(int socket, int listener, const std::string& state, Failure& f) {
    if (!mech::send_with_fds(socket, state.data(), state.size(), &listener, 1))
        return f.set("send seccomp listener", "linux.seccomp.listenerPath");
    return true;
}

}  // namespace caisson::oci
