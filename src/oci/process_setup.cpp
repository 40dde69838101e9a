#include "oci/process_setup.hpp"

#include "filter/seccomp_compiler.hpp"
#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/fd_passing.hpp"
#include "mech/landlock.hpp"
#include "mech/seccomp.hpp"
#include "oci/annotations.hpp"
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
    run::ProgramSteps& st = plan.steps;
    for (size_t i = 0; i < p.rlimits.size(); ++i) {
        const auto& r = p.rlimits[i];
        int res = values::rlimit_from_name(r.type.rfind("RLIMIT_", 0) == 0 ? r.type.substr(7) : r.type);
        if (res < 0) throw Error::usage("config.json: process.rlimits[" + std::to_string(i) + "].type: unknown limit \"" + r.type + "\"");
        if (r.soft > r.hard) throw Error::usage("config.json: process.rlimits[" + std::to_string(i) + "]: soft is above hard");
        st.rlimits.push_back({res, r.soft, r.hard});
    }
    if (!p.apparmor_profile.empty())
        throw Error::usage("config.json: process.apparmorProfile: AppArmor is not enabled on this host");
    if (spec && spec->linux_.personality_domain)
        st.personality = *spec->linux_.personality_domain == "LINUX32" ? PER_LINUX32 : PER_LINUX;
    if (p.scheduler)
        st.scheduling = run::Scheduling{static_cast<uint32_t>(sched_policy(p.scheduler->policy)), sched_flags(p.scheduler->flags),
                                        p.scheduler->nice, static_cast<uint32_t>(p.scheduler->priority), p.scheduler->runtime,
                                        p.scheduler->deadline, p.scheduler->period};
    // execCPUAffinity: `initial` is the exec helper's until it is in the container's cgroup
    // (apply_initial_affinity), `final` the process's after; without `final` nothing changes
    // after the move (runtime-spec). Not for the container's init, which the spec leaves out.
    if (!p.exec_cpu_final.empty()) st.cpu_affinity = values::cpu_list_members(p.exec_cpu_final, "process.execCPUAffinity.final");
    if (!p.exec_cpu_initial.empty()) values::cpu_list_members(p.exec_cpu_initial, "process.execCPUAffinity.initial");
    if (p.io_priority) {
        int klass = p.io_priority->klass == "IOPRIO_CLASS_RT" ? 1 : p.io_priority->klass == "IOPRIO_CLASS_BE" ? 2 : 3;
        st.io_priority = (klass << 13) | p.io_priority->priority;
    }
    // The config's five sets and its ids, without caisson's locked securebits: an OCI
    // container gets what its config says.
    CapabilitySets c = p.capabilities.value_or(CapabilitySets{});
    st.caps = {c.bounding, c.effective, c.permitted, c.inheritable, c.ambient};
    st.lock_securebits = false;
    st.change_ids = true;
    st.uid = p.user.uid;
    st.gid = p.user.gid;
    st.groups.assign(p.user.additional_gids.begin(), p.user.additional_gids.end());
    st.chown_stdio = true;
    st.no_new_privs = p.no_new_privileges;
    st.umask = p.user.umask.value_or(022);
    st.cwd = p.cwd;
    st.cwd_label = "process.cwd " + p.cwd;
    st.cwd_before_identity = true;
    if (spec && spec->linux_.seccomp) {
        SeccompTranslation t = translate_seccomp(*spec->linux_.seccomp);
        filter::CompileOptions opt;
        opt.allow_multiplexed = true;
        st.seccomp = filter::compile(t.policy, opt).program;
        st.seccomp_flags = t.filter_flags;
        st.seccomp_listener = t.notify;
        plan.listener_path = spec->linux_.seccomp->listener_path;
        if (t.notify && plan.listener_path.empty())
            throw Error::usage("config.json: linux.seccomp: SCMP_ACT_NOTIFY needs a listenerPath");
    }
    // Without no_new_privs an unprivileged process may not install a filter: it goes in
    // while still privileged (runc's order), and then has to allow the steps that follow.
    st.filter_first = !p.no_new_privileges;
    // caisson's own protections, by annotation (oci/annotations): they only add.
    if (spec) {
        CaissonProtections extra = caisson_protections(spec->annotations, mech::landlock_abi());
        if (extra.landlock && extra.landlock->enforces())
            plan.landlock = *extra.landlock;
        plan.stacked_seccomp = extra.seccomp;
        plan.egress = extra.egress;
        // Landlock and a second filter need no_new_privs once the capabilities are gone; the
        // config's filter then goes in last too, so that it never judges caisson's own steps.
        if (plan.landlock || !plan.stacked_seccomp.empty()) st.no_new_privs = true;
        st.filter_first = !st.no_new_privs;
        bool own_userns = false;
        for (const auto& n : spec->linux_.namespaces) own_userns = own_userns || (n.type == "user" && n.path.empty());
        // With these in the host's user namespace the process could detach the programs.
        constexpr uint64_t kUndoEgress = (1ull << CAP_SYS_ADMIN) | (1ull << CAP_NET_ADMIN) | (1ull << 39 /* CAP_BPF */);
        if (extra.egress.enabled() && !own_userns && (c.bounding & kUndoEgress))
            throw Error::usage("annotations org.caisson.allow-connect/deny-private: the config keeps CAP_SYS_ADMIN, CAP_NET_ADMIN "
                               "or CAP_BPF without a user namespace, with which the process could detach the egress filter");
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
    plan.steps.pass_fds.clear();
    for (unsigned fd = 3; fd < 3 + plan.preserve_fds; ++fd) plan.steps.pass_fds.push_back(static_cast<int>(fd));
    bool filtered = false;
    return run::take_program_steps(plan.steps, {plan.runtime_fds[0], plan.runtime_fds[1]}, listener, &filtered, f);
}

bool apply_initial_affinity(const Process& p, Failure& f) {
    if (p.exec_cpu_initial.empty()) return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (uint16_t cpu : values::cpu_list_members(p.exec_cpu_initial, "process.execCPUAffinity.initial")) CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof(set), &set) < 0) return f.set("sched_setaffinity", "process.execCPUAffinity.initial");
    return true;
}

bool finish_and_exec(ProcessPlan& plan, Failure& f) {
    // caisson's own additions, last: after the start handshake and the startContainer hooks,
    // so that neither runs under them; no_new_privs is set, so no privilege is needed.
    if (plan.landlock && !mech::apply_landlock(*plan.landlock, f)) return false;
    if (!plan.stacked_seccomp.empty() && !mech::install_seccomp(plan.stacked_seccomp, nullptr, f)) return false;
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
