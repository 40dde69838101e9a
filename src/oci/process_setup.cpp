#include "oci/process_setup.hpp"

#include "filter/seccomp_compiler.hpp"
#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/apparmor.hpp"
#include "mech/fd_passing.hpp"
#include "mech/fds.hpp"
#include "mech/idmap.hpp"
#include "mech/landlock.hpp"
#include "mech/seccomp.hpp"
#include "oci/annotations.hpp"
#include "oci/seccomp_json.hpp"
#include "policy/seccomp_profile.hpp"
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

}  // namespace

ProcessPlan plan_process(const Process& p, const Spec* spec, const std::string& container_id, bool maps_runtime_uid) {
    ProcessPlan plan;
    run::ContainerProcess& cp = plan.process;
    cp.args = p.args;
    cp.env = p.env;
    cp.uid = p.user.uid;
    if (p.terminal) cp.console = console_spec(p, false);
    cp.create_cwd = p.cwd;
    run::ProgramSteps& st = plan.process.steps;
    for (size_t i = 0; i < p.rlimits.size(); ++i) {
        const auto& r = p.rlimits[i];
        int res = values::rlimit_from_name(r.type.rfind("RLIMIT_", 0) == 0 ? r.type.substr(7) : r.type);
        if (res < 0) throw Error::usage("config.json: process.rlimits[" + std::to_string(i) + "].type: unknown limit \"" + r.type + "\"");
        if (r.soft > r.hard) throw Error::usage("config.json: process.rlimits[" + std::to_string(i) + "]: soft is above hard");
        st.rlimits.push_back({res, r.soft, r.hard});
    }
    // AppArmor's profile, where the kernel runs AppArmor; a profile that is not loaded fails
    // at the exec's setup, naming it. Refused, never dropped, where it does not.
    if (!p.apparmor_profile.empty()) {
        if (!mech::apparmor_enabled())
            throw Error::usage("config.json: process.apparmorProfile \"" + p.apparmor_profile +
                               "\": AppArmor is not enabled on this host");
        st.apparmor_profile = p.apparmor_profile;
    }
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
    if (!p.exec_cpu_initial.empty()) plan.initial_cpus = values::cpu_list_members(p.exec_cpu_initial, "process.execCPUAffinity.initial");
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
    // An ordinary user's runtime wrote the container's gid map with setgroups denied (the
    // kernel's rule), and a runtime in a user namespace that denies it (`unshare -r`'s) makes
    // namespaces that deny it too: the processes keep the groups they were made with, as
    // runc's rootless containers do, and a config cannot give them others.
    if (::geteuid() != 0 || !mech::own_setgroups_allowed()) {
        if (!st.groups.empty())
            throw Error::usage("config.json: process.user.additionalGids: setgroups is denied in the container's user namespace "
                               "(the runtime is an ordinary user's, or in a user namespace that denies it): no supplementary "
                               "groups can be set");
        st.keep_groups = true;
    }
    st.chown_stdio = true;
    st.no_new_privs = p.no_new_privileges;
    st.umask = p.user.umask.value_or(022);
    st.cwd = p.cwd;
    st.cwd_label = "process.cwd " + p.cwd;
    st.cwd_before_identity = true;
    bool config_traces = false;  // the config's filter has SCMP_ACT_TRACE somewhere
    if (spec && spec->linux_.seccomp) {
        SeccompTranslation t = translate_seccomp(*spec->linux_.seccomp);
        config_traces = t.policy.default_action.kind == seccomp::ActionKind::Trace;
        for (const auto& r : t.policy.rules) config_traces = config_traces || r.action.kind == seccomp::ActionKind::Trace;
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
        CaissonProtections extra = caisson_protections(spec->annotations, mech::landlock_abi(), container_id);
        if (extra.landlock && extra.landlock->enforces())
            cp.landlock = *extra.landlock;
        cp.stacked_seccomp = extra.seccomp;
        plan.egress = extra.egress;
        plan.bpf_lsm = extra.bpf_lsm;
        if (extra.needs_monitor()) plan.monitor = run::MonitorPlan{extra.seccomp_truth, extra.supervised, {}};
        bool own_pidns = false;
        for (const auto& n : spec->linux_.namespaces) own_pidns = own_pidns || (n.type == "pid" && n.path.empty());
        // The monitor lives as long as the init: without a pid namespace of the container's
        // own, a process could outlive both, unwatched, and the BPF LSM programs, whose links the monitor
        // holds, would go with it.
        if (extra.bpf_lsm.enabled() && !own_pidns)
            throw Error::usage("annotations org.caisson.lsm-*: need the container's own pid namespace (linux.namespaces: pid, "
                               "without a path), so that no process outlives the monitor that holds the programs");
        if (!extra.supervised.empty()) {
            // A kill verdict kills the init, which takes only its own pid namespace along.
            if (!own_pidns)
                throw Error::usage("annotation org.caisson.seccomp: [[supervise]] rules need the container's own pid namespace "
                                   "(linux.namespaces: pid, without a path), so that a kill ends every process of it");
            // A chain of filters has one listener: the config's own goes to its agent.
            if (st.seccomp_listener)
                throw Error::usage("annotation org.caisson.seccomp: [[supervise]] rules cannot go with linux.seccomp's "
                                   "SCMP_ACT_NOTIFY (a process has one seccomp listener, and that one is the agent's)");
            // The kernel ranks a notification above SCMP_ACT_TRACE: the monitor's "let through"
            // would run a call the config's filter meant to fail (or hand to a tracer).
            if (config_traces)
                throw Error::usage("annotation org.caisson.seccomp: [[supervise]] rules cannot go with linux.seccomp's "
                                   "SCMP_ACT_TRACE (a notification outranks it)");
        }
        // Landlock and a second filter need no_new_privs once the capabilities are gone; the
        // config's filter then goes in last too, so that it never judges caisson's own steps.
        if (cp.landlock || !cp.stacked_seccomp.empty()) st.no_new_privs = true;
        st.filter_first = !st.no_new_privs;
        bool own_userns = false;
        for (const auto& n : spec->linux_.namespaces) own_userns = own_userns || (n.type == "user" && n.path.empty());
        // Every capability the process could hold: the bounding set bounds what an exec may
        // raise, but not the ambient set, nor root's exec of the inheritable set (with the
        // runtime's own inheritable set holding them).
        const uint64_t reachable = c.bounding | c.permitted | c.inheritable | c.ambient;
        // With these in the host's user namespace the process could detach the programs.
        constexpr uint64_t kUndoEgress = (1ull << CAP_SYS_ADMIN) | (1ull << CAP_NET_ADMIN) | (1ull << 39 /* CAP_BPF */);
        if (extra.egress.enabled() && !own_userns && (reachable & kUndoEgress))
            throw Error::usage("annotations org.caisson.allow-connect/deny-private: the config keeps CAP_SYS_ADMIN, CAP_NET_ADMIN "
                               "or CAP_BPF without a user namespace, with which the process could detach the egress filter");
        // And with these, in any user namespace that owns the network namespace, it need not:
        // packet and raw sockets (and IPv4 source routes) go around the cgroup's hooks, which
        // judge TCP and UDP sockets' addresses (an attack run sent and received through
        // AF_PACKET with containerd's default capabilities). caisson run refuses the same.
        constexpr uint64_t kAroundEgress = (1ull << CAP_NET_RAW) | (1ull << CAP_NET_ADMIN);
        if (extra.egress.enabled() && (reachable & kAroundEgress))
            throw Error::usage("annotations org.caisson.allow-connect/deny-private: the config keeps CAP_NET_RAW or CAP_NET_ADMIN "
                               "(containerd's and Docker's defaults keep NET_RAW), whose packet and raw sockets pass around "
                               "the egress filter; drop them (a pod's securityContext.capabilities.drop)");
        // Or move itself out of the cgroup the BPF LSM programs are attached to.
        constexpr uint64_t kUndoLsm = (1ull << CAP_SYS_ADMIN) | (1ull << 39 /* CAP_BPF */);
        if (extra.bpf_lsm.enabled() && !own_userns && (reachable & kUndoLsm))
            throw Error::usage("annotations org.caisson.lsm-*: the config keeps CAP_SYS_ADMIN or CAP_BPF without a user "
                               "namespace, with which the process could leave or detach the BPF LSM programs");
    }
    // As the owner of the cgroup's files without CAP_SYS_ADMIN, no user namespace
    // (profiles/seccomp/oci-no-userns.toml says why). A process that may hold CAP_SYS_ADMIN
    // could mount the hierarchies as it is, and is trusted with them (a privileged
    // container): in its permitted set, or where an exec may raise it without no_new_privs:
    // the bounding set (root's exec, a set-user-ID file's) or the inheritable set (an image's
    // file capabilities, which the bounding set does not limit).
    constexpr uint64_t kSysAdmin = 1ull << CAP_SYS_ADMIN;
    const bool may_hold_sys_admin =
        (c.permitted & kSysAdmin) || (!st.no_new_privs && ((c.bounding | c.inheritable) & kSysAdmin));
    // And without a user namespace of its own, no keyring calls: its uids' user keyrings are
    // the host's (profiles/seccomp/oci-host-keyrings.toml).
    const bool no_userns_guard = maps_runtime_uid && !may_hold_sys_admin;
    // In the runtime's user namespace: no "user" entry, or one whose path is that namespace
    // (told by the kernel's inode, not by the path's words).
    const bool in_host_userns = spec && std::none_of(spec->linux_.namespaces.begin(), spec->linux_.namespaces.end(), [](const auto& n) {
        if (n.type != "user") return false;
        if (n.path.empty()) return true;
        struct stat joined{}, own{};
        return !(::stat(n.path.c_str(), &joined) == 0 && ::stat("/proc/self/ns/user", &own) == 0 &&
                 joined.st_dev == own.st_dev && joined.st_ino == own.st_ino);
    });
    const bool keyring_guard = in_host_userns && !may_hold_sys_admin;
    if (no_userns_guard || keyring_guard) {
        seccomp::Policy guard;
        for (const char* name : {"oci-no-userns", "oci-host-keyrings"}) {
            if (std::string_view(name) == "oci-no-userns" ? !no_userns_guard : !keyring_guard) continue;
            seccomp::Policy part = seccomp_profile::parse_text(seccomp_profile::builtin_text(name), std::string("builtin:") + name);
            if (guard.rules.empty()) {
                guard = part;
                guard.name = "caisson-oci guard";
            } else {
                guard.rules.insert(guard.rules.end(), part.rules.begin(), part.rules.end());
            }
        }
        filter::CompileOptions opt;
        opt.allow_multiplexed = true;
        st.guard = filter::compile(guard, opt).program;
    }
    return plan;
}

mech::ConsoleSpec console_spec(const Process& p, bool container_init) {
    return {p.console_size, p.user.uid, p.user.gid, container_init};
}

void refuse_ways_out(bool terminal, unsigned passed) {
    for (unsigned fd = terminal ? 3 : 0; fd < 3 + passed; ++fd)
        if (std::string why = mech::way_out_through(static_cast<int>(fd)); !why.empty())
            throw Error::usage("the container process's standard streams and passed descriptors: " + why);
}

bool send_listener(int socket, int listener, const std::string& state, Failure& f) {
    if (!mech::send_with_fds(socket, state.data(), state.size(), &listener, 1))
        return f.set("send seccomp listener", "linux.seccomp.listenerPath");
    return true;
}

}  // namespace caisson::oci
