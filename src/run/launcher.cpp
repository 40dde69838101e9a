// The supervisor: clones the sandbox's init into its namespaces, writes the id maps,
// then watches it (pidfd, setup channel, forwarded signals, the time limit) to its end.
#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/trusted_dir.hpp"
#include "mech/cgroup.hpp"
#include "mech/bpf_lsm.hpp"
#include "mech/clone.hpp"
#include "mech/egress.hpp"
#include "mech/fds.hpp"
#include "mech/learn_trace.hpp"
#include "mech/idmap.hpp"
#include "mech/namespaces.hpp"
#include "mech/overlay.hpp"
#include "mech/tty.hpp"
#include "mech/userns_owner.hpp"
#include "mech/parent_watch.hpp"
#include "mech/guest_nic.hpp"
#include "mech/pasta.hpp"
#include "run/egress_proxy.hpp"
#include "run/egress_rules.hpp"
#include "policy/profile.hpp"
#include "policy/homes.hpp"
#include "mech/veth.hpp"
#include "run/channel.hpp"
#include "run/init.hpp"
#include "run/preflight.hpp"
#include "run/prepared_program.hpp"
#include "run/notify_thread.hpp"
#include "run/seccomp_monitor.hpp"
#include "policy/ceilings.hpp"
#include "policy/values.hpp"
#include "policy/vm_plan.hpp"

#include <caisson/error.hpp>
#include <caisson/output_file.hpp>
#include <caisson/sandbox.hpp>
#include <caisson/vm.hpp>

#include <fcntl.h>
#include <climits>
#include <sched.h>
#include <poll.h>
#include <sys/stat.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>
#include <fstream>
#include <chrono>
#include <cmath>
#include <csignal>
#include <optional>
#include <set>

namespace caisson {
namespace {

constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
using Clock = std::chrono::steady_clock;

// The sandbox's init as a process we own: until it is reaped, the destructor kills it,
// and with it (as PID 1) everything in the sandbox. No path out of run() leaves it behind.
class InitProcess {
public:
    InitProcess(kernel::Fd pidfd, pid_t pid) : pidfd_(std::move(pidfd)), pid_(pid) {}
    InitProcess(const InitProcess&) = delete;
    InitProcess& operator=(const InitProcess&) = delete;
    ~InitProcess() {
        if (!reaped_) {
            kernel::pidfd_send_signal(pidfd_.get(), SIGKILL);
            siginfo_t info{};
            while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED | __WALL) < 0 && errno == EINTR) {
            }
        }
    }
    int pidfd() const { return pidfd_.get(); }
    pid_t pid() const { return pid_; }
    void kill(int sig) const {
        if (!reaped_) kernel::pidfd_send_signal(pidfd_.get(), sig);
    }
    // Reaps init; returns its siginfo and the resources it and its reaped children used.
    siginfo_t reap(rusage& usage) {
        siginfo_t info{};
        while (kernel::waitid_rusage(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED | __WALL, &usage) < 0) {
            if (errno != EINTR) throw Error(ErrorKind::Setup, "waitid", "sandbox init", errno);
        }
        reaped_ = true;
        return info;
    }

private:
    kernel::Fd pidfd_;
    pid_t pid_;
    bool reaped_ = false;
};

// Forwarded signals are blocked and read from a signalfd, so the supervisor never runs a
// handler; the mask is restored when run() returns. Only where the caller asked for it
// (Process::forward_signals): a signalfd takes a process-directed signal from the shared
// queue before another thread's handler sees it, so a library caller's own SIGTERM would go
// to the sandbox instead. Without it, the caller's mask is only read.
class SignalRelay {
public:
    explicit SignalRelay(bool forward) {
        if (!forward) {
            if (::pthread_sigmask(SIG_BLOCK, nullptr, &saved_) != 0) throw Error(ErrorKind::Setup, "pthread_sigmask", "supervisor", EINVAL);
            return;
        }
        forwarding_ = true;
        sigset_t set;
        ::sigemptyset(&set);
        for (int s : kForwarded) ::sigaddset(&set, s);
        if (::sigprocmask(SIG_BLOCK, &set, &saved_) < 0) throw Error(ErrorKind::Setup, "sigprocmask", "supervisor", errno);
        fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!fd_) {
            ::sigprocmask(SIG_SETMASK, &saved_, nullptr);
            throw Error(ErrorKind::Setup, "signalfd", "supervisor", errno);
        }
    }
    ~SignalRelay() {
        if (forwarding_) ::sigprocmask(SIG_SETMASK, &saved_, nullptr);
    }
    SignalRelay(const SignalRelay&) = delete;
    SignalRelay& operator=(const SignalRelay&) = delete;
    int fd() const { return fd_.get(); }
    const sigset_t& saved_mask() const { return saved_; }

private:
    bool forwarding_ = false;
    kernel::Fd fd_;  // none without forwarding: poll skips -1
    sigset_t saved_{};
};

// Without a pid namespace nothing ends the sandbox's processes with init: kill its tree,
// leaves first, a few rounds for those forked meanwhile. (A cgroup kills them all at once.)
void kill_tree(pid_t root) {
    for (int round = 0; round < 8; ++round) {
        std::vector<pid_t> stack{root}, found;
        while (!stack.empty()) {
            pid_t p = stack.back();
            stack.pop_back();
            std::string dir = "/proc/" + std::to_string(p) + "/task";
            DIR* d = ::opendir(dir.c_str());
            if (!d) continue;
            while (dirent* e = ::readdir(d)) {
                if (e->d_name[0] == '.') continue;
                std::ifstream children(dir + "/" + e->d_name + "/children");
                pid_t c;
                while (children >> c) {
                    found.push_back(c);
                    stack.push_back(c);
                }
            }
            ::closedir(d);
        }
        if (found.empty()) return;
        for (auto it = found.rbegin(); it != found.rend(); ++it) ::kill(*it, SIGKILL);
    }
}

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

std::vector<std::string> protections(const Policy& p, const run::LaunchPlan& plan, const mech::IdMaps* maps,
                                     bool has_cgroup) {
    std::vector<std::string> out = mech::namespace_names(p.namespaces);
    if (maps) {
        out.push_back("uid-map " + std::to_string(maps->inside_uid) + "->" + std::to_string(maps->host_uid));
        out.push_back("gid-map " + std::to_string(maps->inside_gid) + "->" + std::to_string(maps->host_gid));
        out.emplace_back(plan.drop_groups ? "no-supplementary-groups" : "setgroups-deny");
    }
    if (p.namespaces.mount) {
        out.emplace_back("pivot_root");
        out.emplace_back(p.fs.overlay ? "overlay-root" : p.fs.writable_root ? "writable-root" : "read-only-root");
        out.emplace_back("fresh-proc");
        out.emplace_back("minimal-dev");
        out.emplace_back("masked-paths");
        out.emplace_back("read-only-paths");
        if (!plan.root.hidden_dirs.empty()) {
            std::string hidden = "hidden-homes";
            for (const auto& d : plan.root.hidden_dirs) hidden += " " + d;
            out.push_back(hidden);
        }
        if (!plan.root.home.empty())
            out.push_back("home " + plan.root.home + " read-only, " + std::to_string(plan.root.home_masks.size()) + " secrets hidden");
    }
    if (p.namespaces.net && p.network.kind == Network::Kind::Loopback) out.emplace_back("loopback-only");
    // Beside --allow-host the address rules are the proxy's (its report says so), not the filter's.
    if (p.egress.enabled() && ::geteuid() == 0 && p.network.allow_hosts.empty())
        out.push_back("egress-filter (" + std::to_string(p.egress.allow.size()) + " allowed, " +
                      std::to_string(p.egress.deny.size()) + " denied destinations, otherwise " +
                      (p.egress.default_deny() ? "deny" : "allow") + ")");
    if (p.bpf_lsm.enabled() && !p.bpf_lsm.best_effort)
        out.push_back("bpf-lsm (" + (p.bpf_lsm.exec_max ? "exec max " + std::to_string(*p.bpf_lsm.exec_max) + ", " : std::string()) +
                      std::to_string(p.bpf_lsm.deny_files.size()) + " denied files, " +
                      std::to_string(p.bpf_lsm.connect_ports.size()) + " connect ports)");
    if (p.capabilities.empty()) {
        out.emplace_back("capabilities-dropped");
    } else {
        std::string kept = "capabilities-kept";
        for (int cap : p.capabilities) kept += " " + values::capability_name(cap);
        out.push_back(kept);
    }
    out.emplace_back("securebits-noroot-locked");
    out.emplace_back("no-new-privs");
    out.emplace_back("inherited-fds-closed");
    out.emplace_back(p.process.tty ? "seccomp-tiocsti-tioclinux-blocked" : "new-session-no-tty");
    if (!plan.steps.seccomp.empty())
        out.push_back("seccomp " + (p.seccomp.mode == seccomp::Mode::None ? std::string("tty-only") : p.seccomp.name) +
                      " (" + std::to_string(plan.steps.seccomp.size()) + " instructions)");
    if (plan.steps.landlock)
        for (const auto& r : plan.steps.landlock_plan.enforced) out.push_back("landlock " + r);
    if (has_cgroup)
        out.emplace_back(p.resources.any() || p.egress.enabled() || ceilings::want_cgroup(p)
                             ? "cgroup"
                             : "cgroup (for teardown, without a pid namespace)");
    if (!plan.steps.rlimits.empty()) out.emplace_back("rlimits");
    if (p.process.time_limit_s > 0) out.emplace_back("time-limit");
    out.emplace_back("pid1-init");
    out.emplace_back("dies-with-supervisor");
    return out;
}

}  // namespace

namespace {

// Each bind's source as it is now: reached, as root, through links of root's only (another
// user's would choose what root binds: an attack run bound /root through one), and pinned by
// device and inode, which init checks on what it clones (a swap meanwhile is refused).
void pin_bind_sources(Policy& p) {
    const mech::LinkTrust trust = mech::link_trust_for_this_user();
    for (auto& m : p.fs.mounts) {
        if ((m.kind != MountKind::Bind && m.kind != MountKind::RoBind) || m.source_ino != 0 || m.source.empty()) continue;
        const std::string what = m.kind == MountKind::Bind ? "--bind source" : "--ro-bind source";
        if (::access(m.source.c_str(), F_OK) < 0) throw Error(ErrorKind::Usage, what, m.source, errno);
        // What was walked is what is pinned: a lookup by name after the walk could meet a path
        // swapped meanwhile (a review's race bound root's 0700 directory so).
        kernel::Fd source = mech::open_trusted_path(m.source, trust, what);
        struct stat st{};
        if (::fstat(source.get(), &st) < 0) throw Error(ErrorKind::Usage, what, m.source, errno);
        m.source_dev = static_cast<uint64_t>(st.st_dev);
        m.source_ino = static_cast<uint64_t>(st.st_ino);
    }
    // The root too, when it is not the host's own named "/": init checks what it clones.
    if (p.fs.rootfs != "/" && p.fs.rootfs_ino == 0) {
        kernel::Fd root = mech::open_trusted_path(p.fs.rootfs, trust, "--rootfs");
        struct stat st{};
        if (::fstat(root.get(), &st) < 0) throw Error(ErrorKind::Usage, "--rootfs", p.fs.rootfs, errno);
        if (!S_ISDIR(st.st_mode)) throw Error(ErrorKind::Usage, "--rootfs", p.fs.rootfs, ENOTDIR);
        p.fs.rootfs_dev = static_cast<uint64_t>(st.st_dev);
        p.fs.rootfs_ino = static_cast<uint64_t>(st.st_ino);
    }
}

// What the policy names by the caller's own state, made concrete where the sandbox is made:
// --workdir's directory, and the binds' sources.
Policy with_caller_paths(Policy p) {
    pin_bind_sources(p);
    if (!p.fs.workdir) return p;
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof(cwd))) throw Error(ErrorKind::Usage, "--workdir: getcwd", ".", errno);
    // Not a directory whose being writable undoes what the sandbox hides: the root, /tmp, a
    // home, the secrets in one.
    Policy builtin;
    profile::apply_text(builtin, homes::builtin_profile_text(), "profiles/home.toml (built in)");
    const char* env_home = ::getenv("HOME");
    const std::string home = env_home && *env_home == '/' ? env_home : "";
    std::vector<std::string> masks;
    if (!home.empty()) {
        for (const auto& m : builtin.fs.home_masks) masks.push_back(home + "/" + m);
        for (const auto& m : p.fs.home_masks) masks.push_back(home + "/" + m);  // --home-mask's
    }
    if (std::string why = homes::workdir_refusal(cwd, home, masks); !why.empty())
        throw Error::usage("--workdir: the current directory " + std::string(cwd) + " cannot be bound read-write: " + why);
    // What was checked is the directory the caller stands in: the path named it then, and
    // the bind must find the same one (a process that may write its parent could swap the
    // path for a link to a home between this check and the bind).
    struct stat here{}, named{};
    if (::stat(".", &here) < 0) throw Error(ErrorKind::Usage, "--workdir: stat", ".", errno);
    if (::stat(cwd, &named) < 0 || named.st_dev != here.st_dev || named.st_ino != here.st_ino)
        throw Error(ErrorKind::Usage, "--workdir: the current directory changed while it was checked", cwd, ESTALE);
    p.fs.mounts.push_back({MountKind::Bind, cwd, cwd, 0, 0755, static_cast<uint64_t>(here.st_dev), static_cast<uint64_t>(here.st_ino)});
    if (p.process.cwd == "/") p.process.cwd = cwd;
    p.fs.workdir = false;
    return p;
}

}  // namespace

Sandbox::Sandbox(Policy policy) : policy_(with_caller_paths(std::move(policy))) {}

std::vector<std::string> program_environment(const Policy& policy) { return run::make_environment(policy); }

Outcome Sandbox::run() { return launch(nullptr); }

Outcome Sandbox::run_prepared(const std::function<std::optional<PreparedProgram>()>& next) { return launch(&next); }

Outcome Sandbox::launch(const std::function<std::optional<PreparedProgram>()>* next) {
    const Policy& p = policy_;
    // A Sandbox runs on this kernel: a policy that asks for a guest goes to run_in_vm.
    if (p.vm.enabled) throw Error::usage("--vm: this sandbox would run on the host's kernel; caisson::run_in_vm runs it in a guest");
    const uid_t caller_uid = ::geteuid();
    const gid_t caller_gid = ::getegid();
    if (kernel::Failure f; !mech::fill_closed_stdio(f)) throw Error(ErrorKind::Setup, f.step, f.object, f.err);
    run::preflight(p, caller_uid == 0);
    // CVE-2019-5736: fail closed when the program could rewrite the binary that runs it.
    if (exposes_own_binary())
        throw Error::usage("the program would run with host ids that may write this binary (" + std::to_string(::getpid()) +
                           "'s /proc/self/exe), which a \"#!/proc/self/exe\" script reaches from inside (CVE-2019-5736): "
                           "run caisson from a read-only or root-owned file, or call caisson::run_from_protected_copy() first");
    std::optional<mech::IdMaps> maps;
    if (p.namespaces.user) maps = mech::decide_id_maps(p.identity, caller_uid, caller_gid);
    // Learn mode as root, where there is a cgroup v2 to tell the sandbox by: the kernel counts
    // the calls (no round trip for most); elsewhere, every call is a notification.
    std::optional<mech::LearnTrace> learn_trace;
    if (!p.learn_path.empty() && caller_uid == 0 && !mech::detect_cgroups().v2.empty()) {
        try {
            learn_trace.emplace();
        } catch (const Error&) {
        }
    }
    run::LaunchPlan plan = run::build_plan(p, caller_uid, caller_gid, learn_trace.has_value());
    plan.drop_groups = maps && caller_uid == 0 && mech::own_setgroups_allowed();
    if (next) {
        // What the program would need from the moment of clone, before it exists.
        if (p.process.tty) throw Error::usage("a sandbox made ahead of its program has no terminal to give it (--tty)");
        if (!p.process.pass_fds.empty()) throw Error::usage("a sandbox made ahead of its program passes no descriptors (--pass-fd)");
        if (p.process.stdio != std::array<int, 3>{0, 1, 2})
            throw Error::usage("a sandbox made ahead of its program takes the program's streams from the program handed to it "
                               "(process.stdio)");
        if (plan.seccomp_listener_early)
            throw Error::usage("seccomp policy '" + p.seccomp.name + "': a supervised execve needs the program known at clone; "
                               "a sandbox made ahead of its program cannot have one");
        plan.hold_for_program = true;
    }

    // --die-with-parent (mech/parent_watch.hpp): the parent's end kills the sandbox, which is
    // then taken down as after any other end. Looked at before the program is given the go
    // or handed over, and polled with the rest from then on.
    mech::ParentWatch parent(p.process.die_with_parent);
    auto parent_gone_in_setup = [&] {
        if (parent.ended())
            throw Error(ErrorKind::Setup, "--die-with-parent", "the parent ended before the program started", ESRCH);
    };

    // A file the supervisor will write is opened before anything starts: a bad path is a
    // usage error, not a sandbox killed half way.
    // As a report is (caisson/output_file.hpp): a regular file of one name or /dev/null, never
    // a FIFO the supervisor would wait on, looked at before anything of it is cut.
    OutputFile audit_file;
    if (!p.audit_path.empty()) {
        audit_file = OutputFile(p.audit_path, "--audit", p.process.pass_fds);
        audit_file.write("");
    }
    // --monitor: caisson's own standard error, kept apart from the program's (which may be
    // the same file, but the program may close or replace its copy).
    kernel::Fd monitor_out;
    if (p.monitor) {
        monitor_out.reset(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
        if (!monitor_out) throw Error(ErrorKind::Setup, "--monitor: duplicate", "standard error", errno);
    }

    // Forwarded signals are taken (blocked, read from a signalfd) before anything that must be
    // taken down is made, and given back only after it is: a SIGTERM in between would end
    // this process by default and leave the sandbox's cgroups (CI: a --vm jail's supervisor,
    // SIGTERMed by a guest that failed at once, left its own).
    SignalRelay relay(p.process.forward_signals);
    plan.caller_sigmask = relay.saved_mask();

    // The cgroup exists before the sandbox: v2 is joined by clone3 itself, so no process of
    // the sandbox ever runs outside it. Declared before init, so that it goes after it.
    std::unique_ptr<mech::SandboxCgroup> cgroup;
    cgroup_plan::Plan cgroup_limits;
    // Without a pid namespace nothing else can end every process of the sandbox at once, so
    // root gives it a cgroup even unasked, where one can be made (best effort: the tree
    // kill remains otherwise, and the report says which).
    const bool teardown_cgroup = !p.resources.any() && !p.namespaces.pid && caller_uid == 0;
    // An ordinary user's address rules are the egress proxy's (run/egress_proxy), root's the
    // cgroup BPF filter's; beside --allow-host, the proxy's for root too: the sandbox has lo
    // alone, where the proxy's resolver and listeners are, which the filter would judge as
    // the loopback and private addresses they are.
    const bool egress_filter = p.egress.enabled() && caller_uid == 0 && p.network.allow_hosts.empty();
    const bool needs_cgroup = p.resources.any() || egress_filter || (p.bpf_lsm.enabled() && !p.bpf_lsm.best_effort) ||
                              learn_trace.has_value();
    const char* const no_v2_for_egress = "--allow-connect/--deny-private: the egress filter needs a cgroup v2 hierarchy (none is mounted)";
    // Best-effort BPF LSM programs still get a cgroup to attach to, where one can be made.
    const bool lsm_cgroup = p.bpf_lsm.enabled() && caller_uid == 0;
    // The default ceilings on processes and memory: a cgroup as root, where one can be made;
    // rlimits otherwise (policy/ceilings).
    const bool ceiling_cgroup = caller_uid == 0 && ceilings::want_cgroup(p);
    ceilings::Plan held = ceilings::plan(p, {}, p.namespaces.user);
    if (needs_cgroup || teardown_cgroup || lsm_cgroup || ceiling_cgroup) {
        mech::CgroupLayout layout = mech::detect_cgroups();
        if (std::string(layout.mode()) == "none" && needs_cgroup)
            throw Error::usage(p.resources.any() ? "cgroup options: this host has no cgroup hierarchy mounted"
                                                 : no_v2_for_egress);
        auto where = layout.where();
        // Where v2 exists it freezes, kills and accounts CPU time (cpu.stat is core there):
        // v1's freezer and cpuacct would only cost a directory each.
        if (!layout.v2.empty()) {
            where.erase("freezer");
            where.erase("cpuacct");
        }
        std::set<std::string> controllers;
        for (const auto& [name, version] : where) controllers.insert(name);
        ceilings::Plan with_cgroup = ceilings::plan(p, controllers, p.namespaces.user);
        cgroup_limits = cgroup_plan::plan(with_cgroup.resources, where);
        bool named_parent = !p.resources.cgroup_parent.empty();
        try {
            cgroup = mech::SandboxCgroup::create(layout, cgroup_limits,
                                                 named_parent ? p.resources.cgroup_parent : "caisson", !named_parent);
            held = std::move(with_cgroup);
        } catch (const Error&) {
            if (needs_cgroup) throw;
            cgroup_limits = {};  // the ceilings fall back to rlimits
        }
    }
    plan.steps.rlimits = held.rlimits;
    for (const auto& [name, value] : held.userns_limits)
        plan.sysctls.emplace_back("sys/user/" + name, std::to_string(value));
    if (p.network.kind == Network::Kind::User) {
        plan.tcp_wmem_cap = mech::kPastaSendBufferCap;
        plan.settle_link = mech::kNsIfname;
    }
    // The egress filter is in the cgroup before any process: nothing of the sandbox ever
    // runs without it. Declared after the cgroup, so that it goes first.
    std::optional<mech::EgressFilter> egress;
    if (egress_filter) {
        if (!cgroup || cgroup->v2_fd() < 0)
            throw Error::usage(no_v2_for_egress);
        // The host's own addresses are kept out where the sandbox could reach them: in the
        // host's namespace or another joined, or through pasta (run/egress_rules.hpp).
        const bool reaches_host = !p.namespaces.net || p.network.kind == Network::Kind::User;
        egress.emplace(cgroup->v2_fd(), run::kernel_egress_rules(p.egress, reaches_host, p.namespaces.net ? "" : p.namespaces.net_path));
    }
    if (learn_trace) {
        if (!cgroup || cgroup->v2_fd() < 0) throw Error(ErrorKind::Setup, "learn", "no cgroup v2 directory for the recorder", ENOENT);
        learn_trace->watch(cgroup->v2_fd());
    }
    // The BPF LSM programs too. Fail closed: a kernel that refuses them, or runs them
    // nowhere (no "bpf" among its LSMs), is an error unless asked for best effort.
    std::unique_ptr<mech::BpfLsmPrograms> lsm;
    std::optional<BpfLsmReport> lsm_skipped;
    if (p.bpf_lsm.enabled()) {
        std::string why;
        lsm = mech::attach_bpf_lsm(cgroup ? cgroup->v2_fd() : -1, p.bpf_lsm, why);
        if (!lsm) {
            if (!p.bpf_lsm.best_effort) throw Error::usage("--lsm-*: " + why + "; --lsm-best-effort runs without them");
            lsm_skipped = BpfLsmReport{};
            lsm_skipped->why = why;
        }
    }
    // As root, the sandbox's user namespace belongs to ids of its own, so that what the
    // sandbox counts is charged to them, not to root, and no host account owns it
    // (mech/userns_owner.hpp). Acting as them, the cloning thread may not move a process into
    // the cgroup: init joins it before it is told to go, as on v1, and runs nothing of the
    // sandbox's until then.
    const bool userns_by_owner = maps && caller_uid == 0 && maps->host_uid != 0;
    if (cgroup) {
        bool joins_v1 = cgroup->v2_fd() < 0 || cgroup->paths().size() > 1 || userns_by_owner;
        if (joins_v1 && (plan.clone_flags & CLONE_NEWCGROUP)) {
            plan.clone_flags &= ~static_cast<uint64_t>(CLONE_NEWCGROUP);
            plan.cgroupns_after_join = true;
        }
    }

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        throw Error(ErrorKind::Setup, "socketpair", "setup channel", errno);
    kernel::Fd channel(sv[0]), child_end(sv[1]);
    plan.channel = child_end.get();
    // `[open]` rules: a second pair, to the opener init starts inside the sandbox.
    kernel::Fd opener, opener_end;
    if (plan.open_rules.enabled()) {
        int ov[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ov) < 0)
            throw Error(ErrorKind::Setup, "socketpair", "opener channel", errno);
        opener.reset(ov[0]);
        opener_end.reset(ov[1]);
        plan.opener_fd = opener_end.get();
    }

    // As root, the overlay is built here, in the host's context (see mech/overlay.hpp); the
    // child inherits the descriptor.
    kernel::Fd overlay_root;
    if (plan.root.overlay.enabled && plan.as_root && p.namespaces.mount) {
        overlay_root = mech::build_overlay_as_root(plan.root.overlay, p.fs.rootfs);
        plan.root.overlay.prebuilt_root = overlay_root.get();
    }

    // --net ns:PATH: the sandbox is born in that namespace. setns applies to this thread
    // only, and it goes back to its own right after the clone (a library caller's thread).
    kernel::Fd own_netns;
    struct NetnsRestore {
        kernel::Fd& own;
        ~NetnsRestore() {
            if (own) (void)::setns(own.get(), CLONE_NEWNET);
        }
    } netns_restore{own_netns};
    if (!p.namespaces.net && !p.namespaces.net_path.empty()) {
        kernel::Fd target(::open(p.namespaces.net_path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!target) throw Error(ErrorKind::Usage, "--net ns: open", p.namespaces.net_path, errno);
        own_netns.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!own_netns) throw Error(ErrorKind::Setup, "open own network namespace", "/proc/thread-self/ns/net", errno);
        if (::setns(target.get(), CLONE_NEWNET) < 0)
            throw Error(ErrorKind::Usage, errno == EINVAL ? "--net ns: not a network namespace" : "--net ns: setns",
                        p.namespaces.net_path, errno);
    }

    auto start = Clock::now();
    std::optional<mech::ActAsUsernsOwner> owner;
    if (userns_by_owner) owner.emplace(mech::userns_owner_id(), mech::userns_owner_id());
    mech::CloneRequest request;
    // No SIGCHLD at its end: a caller that ignores SIGCHLD would have the kernel reap init
    // before its status is read (waited for through its pidfd, with __WALL).
    request.exit_signal = 0;
    request.flags = plan.clone_flags;
    if (cgroup && cgroup->v2_fd() >= 0 && !userns_by_owner) request.cgroup_fd = cgroup->v2_fd();
    mech::Cloned cloned;
    // Every signal blocked across the clone, in this thread only: init is a copy of the
    // caller, handlers included, and a signal before it has reset them (a process group's
    // SIGTERM, a terminal's SIGINT) would run the caller's handler inside the sandbox.
    struct BlockAll {
        sigset_t before{};
        BlockAll() {
            sigset_t all;
            ::sigfillset(&all);
            ::pthread_sigmask(SIG_BLOCK, &all, &before);
        }
        ~BlockAll() { ::pthread_sigmask(SIG_SETMASK, &before, nullptr); }
    };
    std::optional<BlockAll> blocked(std::in_place);
    // The child's copy of `cloned` says whether it makes its cgroup namespace itself.
    const bool made = mech::clone_process(request, cloned);
    if (cloned.pid != 0) blocked.reset();
    const long pid = cloned.pid;
    const int pidfd = cloned.pidfd;
    const bool joined_by_clone = cloned.into_cgroup;
    if (cloned.cgroupns_after_join) plan.cgroupns_after_join = true;
    if (!made) {
        int err = errno;
        // Why, as this host says it (the probe `caisson doctor` shows): one line with the fix.
        throw Error(ErrorKind::Setup, "clone3", mech::explain_namespace_refusal(err, request.flags, caller_uid == 0), err);
    }
    if (pid == 0) {
        // Init must not hold the supervisor's end: its end-of-stream is how init learns that
        // the supervisor is gone. (No heap from here on: this is a copy of our memory.)
        ::close(channel.release());
        if (opener) ::close(opener.release());
        run::container_init(plan);
    }
    owner.reset();
    if (own_netns) {
        if (::setns(own_netns.get(), CLONE_NEWNET) < 0) throw Error(ErrorKind::Setup, "setns back", "own network namespace", errno);
        own_netns.reset();
    }
    InitProcess init(kernel::Fd(pidfd), static_cast<pid_t>(pid));
    child_end.reset();
    opener_end.reset();
    // Ends every process of the sandbox: frozen and killed through the cgroup when there is
    // one; PID 1 takes its pid namespace along; without one, the tree goes by hand.
    auto kill_sandbox = [&] {
        if (cgroup) cgroup->kill_all();
        if (!p.namespaces.pid) kill_tree(init.pid());
        init.kill(SIGKILL);
    };

    // The child waits on the channel until its maps exist (it cannot write them itself:
    // it has no rights in our user namespace).
    overlay_root.reset();  // the child has its own copy
    // As root, setgroups stays allowed so that init drops the supplementary groups it was
    // cloned with (root's: gid 0's files would stay open to the sandbox's nobody).
    if (maps) mech::write_id_maps(init.pid(), *maps, /*deny_setgroups=*/!plan.drop_groups);
    if (cgroup) cgroup->join_v1(init.pid(), cgroup->v2_fd() >= 0 && !joined_by_clone);  // before Go: init waits for it
    // The sandbox's network namespace exists from the clone on; it is wired before the
    // program starts, so the program never sees it half made.
    std::optional<mech::VethLink> veth;
    if (p.network.kind == Network::Kind::Veth) veth.emplace(p.network, init.pid());
    std::optional<mech::PastaLink> pasta;
    // In caisson's VM guest --net user is the guest's network device, whose frames passt
    // carries on the host: the sandbox is given it whole (the guest keeps only its loopback).
    const bool guest_nic = p.network.kind == Network::Kind::User && in_vm_guest();
    if (guest_nic)
        mech::give_guest_nic({policy::vm::kGuestNic, policy::vm::kGuestAddress, policy::vm::kGuestPrefix,
                              policy::vm::kGuestGateway, policy::vm::kGuestMtu},
                             init.pid());
    else if (p.network.kind == Network::Kind::User) pasta.emplace(p.network, init.pid(), caller_uid == 0);
    std::optional<run::EgressProxy> names;
    if (!p.network.allow_hosts.empty() || (p.egress.enabled() && caller_uid != 0))
        names.emplace(p, init.pid(), caller_uid == 0, monitor_out.get(), audit_file ? audit_file.fd() : -1);
    parent_gone_in_setup();
    run::Message go{};
    go.type = run::MsgType::Go;
    if (!run::send_message(channel.get(), go)) throw Error(ErrorKind::Setup, "send start token", "setup channel", errno);
    // What killed supervisors left beside ours, collected while init builds the sandbox on
    // the other CPU. Best effort: a group that stays is collected by the next run or by
    // `caisson gc`, and no protection of this sandbox rests on it.
    if (cgroup) {
        try {
            (void)cgroup->collect_stale_siblings();
        } catch (const std::exception&) {
        }
    }

    // Supervise.
    Outcome out;
    std::optional<run::Failure> failure;
    std::optional<int> program_status;
    const bool limited = p.process.time_limit_s > 0;
    auto limit_from = [&](Clock::time_point t) {
        return t + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limited ? p.process.time_limit_s : 0));
    };
    auto deadline = limit_from(start);
    // A held init (run_prepared) says Ready; the program it then gets, and its control socket.
    bool program_wanted = false, unused = false, program_pending = next != nullptr;
    int control = -1;
    std::function<void(int)> told_exit;
    bool channel_open = true;
    bool init_done = false;
    kernel::Fd listener;
    run::SeccompMonitor monitor(plan.seccomp_truth, plan.seccomp_supervised, audit_file ? audit_file.fd() : -1, monitor_out.get());
    if (opener) monitor.attach_opener(std::move(opener), plan.open_rules);
    // Calls decided often are decided on a thread waiting in RECV (run/notify_thread), where
    // its wait ends with the sandbox: a pid namespace of its own, a kernel that ends it.
    const bool notify_threaded = plan.seccomp_decides_often && p.namespaces.pid && run::notify_thread_usable();
    std::optional<run::NotifyThread> notify_thread;
    if (plan.seccomp_listener_early) {
        // The addresses are the same in init's copy of this memory, where the program's
        // process calls execve with them.
        std::vector<uint64_t> names;
        for (const auto& c : plan.exec_candidates) names.push_back(reinterpret_cast<uint64_t>(c.c_str()));
        monitor.expect_start(std::move(names), reinterpret_cast<uint64_t>(plan.argv.data()));
    }
    auto absorb = [&](const run::Message& m, int fd) {
        if (fd >= 0 && listener) {
            // The same listener again (a supervised execve: the program's process sent it
            // before its exec, init sends it after): the first is kept, which the notification
            // thread may be waiting on.
            ::close(fd);
        } else if (fd >= 0) {
            listener.reset(fd);
            // The sandbox's thread waiting on a notification hands its CPU straight to us
            // (Linux 6.6): a decided call costs a few microseconds instead of a cross-CPU wake.
            (void)::ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0);
            if (notify_threaded && !notify_thread) notify_thread.emplace(monitor, listener.get(), init.pidfd());
        }
        if (m.type == run::MsgType::Failed) {
            failure = m.failure;
        } else if (m.type == run::MsgType::Ready) {
            program_wanted = next != nullptr;
        } else if (m.type == run::MsgType::Exited) {
            program_status = m.wait_status;
            if (told_exit) {
                int st = m.wait_status;
                told_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
                told_exit = nullptr;
            }
        } else if (m.type == run::MsgType::Started) {
            monitor.program_started();
            for (uint32_t i = 0; i < m.n_steps && i < run::kMaxSteps; ++i)
                out.setup.push_back({m.steps[i].name, m.steps[i].us});
        }
    };
    while (!init_done) {
        if (program_wanted) {
            program_wanted = false;
            // A sandbox built at idle priority (a pool's refill, beside the runs it serves)
            // runs its program at the normal one, from before it is asked for: init's
            // children (the program, the opener) inherit it from init.
            if (::sched_getscheduler(init.pid()) == SCHED_IDLE) {
                sched_param normal{};
                if (::sched_setscheduler(init.pid(), SCHED_OTHER, &normal) < 0)
                    throw Error(ErrorKind::Setup, "sched_setscheduler", "the sandbox's init, back from SCHED_IDLE", errno);
            }
            // And pasta, which carries its traffic (--net user), forked at the same priority.
            if (pasta && ::sched_getscheduler(pasta->pid()) == SCHED_IDLE) {
                sched_param normal{};
                if (::sched_setscheduler(pasta->pid(), SCHED_OTHER, &normal) < 0)
                    throw Error(ErrorKind::Setup, "sched_setscheduler", "pasta, back from SCHED_IDLE", errno);
            }
            std::optional<PreparedProgram> given = (*next)();
            if (!given) {
                unused = true;
                kill_sandbox();
            } else {
                // The streams are taken whatever happens: a reader of them must see their end.
                struct CloseStreams {
                    int* fds;
                    ~CloseStreams() {
                        for (int i = 0; i < 3; ++i)
                            if (fds[i] >= 0) ::close(fds[i]);
                    }
                } close_streams{given->stdio};
                parent_gone_in_setup();
                run::hand_over_program(channel.get(), plan, *given);
                control = given->control;
                program_pending = false;
                told_exit = given->exited;
                // The program's time starts now, not when its sandbox was made.
                start = Clock::now();
                deadline = limit_from(start);
            }
        }
        pollfd fds[7] = {{init.pidfd(), POLLIN, 0},
                         {relay.fd(), POLLIN, 0},
                         {channel_open ? channel.get() : -1, POLLIN, 0},
                         {notify_thread ? notify_thread->kill_fd() : listener ? listener.get() : -1, POLLIN, 0},
                         {cgroup ? cgroup->oom_eventfd() : -1, POLLIN, 0},
                         {control, POLLIN, 0},
                         {parent.fd(), POLLIN, 0}};
        int timeout = -1;
        // A sandbox made ahead of its program: its time starts with the program.
        if (limited && !program_pending && !out.time_limit_fired) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            timeout = left < 0 ? 0 : static_cast<int>(std::min<long long>(left + 1, INT32_MAX));
        }
        int n = ::poll(fds, 7, timeout);
        const int poll_errno = errno;
        // Checked on every wake-up, not only when poll timed out: a sandbox that keeps the
        // supervisor busy (a notification a call, from many threads; signals) must not
        // outlive its limit.
        if (limited && !program_pending && !out.time_limit_fired && Clock::now() >= deadline) {
            // Killing PID 1 kills the whole pid namespace.
            out.time_limit_fired = true;
            kill_sandbox();
        }
        if (n < 0) {
            if (poll_errno == EINTR) continue;
            throw Error(ErrorKind::Setup, "poll", "supervisor", poll_errno);
        }
        if (n == 0) continue;
        if (fds[2].revents) {
            run::Message m{};
            int fd = -1;
            size_t nfds = 1;
            int rc = run::recv_message(channel.get(), m, &fd, &nfds);
            if (rc <= 0) channel_open = false;
            else absorb(m, nfds ? fd : -1);
        }
        if (fds[4].revents & POLLIN) {
            // v1 kills one process on OOM; the sandbox goes as a whole, as memory.oom.group does.
            eventfd_t n_events = 0;
            (void)::eventfd_read(cgroup->oom_eventfd(), &n_events);
            out.oom = true;
            if (p.resources.oom_kill_group) kill_sandbox();
        }
        if (notify_thread && fds[3].revents) {
            // The thread's kill rule fired (or the thread failed): the sandbox goes.
            eventfd_t n_kills = 0;
            (void)::eventfd_read(notify_thread->kill_fd(), &n_kills);
            kill_sandbox();
        } else if (fds[3].revents & POLLIN) {
            // A kill rule fired: recorded, then the whole sandbox goes (PID 1 takes it along).
            if (monitor.handle(listener.get(), out) == run::NotifyVerdict::Kill)
                kill_sandbox();
        } else if (fds[3].revents) {
            listener.reset();  // no process uses the filter any more
        }
        if (fds[6].revents) {
            // The caller's parent has ended (--die-with-parent): so does the sandbox.
            parent.forget();
            kill_sandbox();
        }
        if (fds[1].revents) {
            signalfd_siginfo si{};
            while (::read(relay.fd(), &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si)))
                init.kill(static_cast<int>(si.ssi_signo));
        }
        if (fds[5].revents) {
            // The caller's signals, as 4-byte packets; its end ends the sandbox.
            int sig = 0;
            ssize_t got = ::recv(control, &sig, sizeof(sig), MSG_DONTWAIT);
            if (got == static_cast<ssize_t>(sizeof(sig))) {
                // Only those a caller's terminal or supervisor sends, as caisson run forwards.
                if (std::find(std::begin(kForwarded), std::end(kForwarded), sig) != std::end(kForwarded)) init.kill(sig);
            } else if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                control = -1;
                kill_sandbox();
            }
        }
        if (fds[0].revents && !channel_open) init_done = true;
        else if (fds[0].revents) {
            // Init has exited; drain what it said before going.
            run::Message m{};
            while (run::recv_message(channel.get(), m) > 0) absorb(m, -1);
            init_done = true;
        }
    }
    rusage usage{};
    siginfo_t info = init.reap(usage);
    if (p.process.tty) mech::restore_terminal_foreground(::getpgrp());
    // Init reaped, the filter has no process left: the thread's wait has ended.
    if (notify_thread) notify_thread->finish(out);
    out.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
    out.user_cpu_s = seconds(usage.ru_utime);
    out.system_cpu_s = seconds(usage.ru_stime);
    out.peak_rss_kb = static_cast<uint64_t>(usage.ru_maxrss);
    if (unused) return out;  // ended before any program: nothing to report
    if (failure && !out.time_limit_fired)
        throw Error(failure->kind, failure->step, failure->object, failure->err);

    if (program_status) {
        int st = *program_status;
        out.exited = WIFEXITED(st);
        out.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
        out.term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    } else if (info.si_code == CLD_EXITED) {
        out.exited = true;
        out.exit_code = info.si_status;
    } else {
        out.term_signal = info.si_status;
    }
    if (out.seccomp_violation) {
        // Reported as the kernel's own kill would end it.
        out.exited = false;
        out.exit_code = 0;
        out.term_signal = SIGSYS;
    }
    if (cgroup) {
        auto st = cgroup->stats();
        out.cgroup.emplace();
        out.cgroup->paths = cgroup->paths();
        out.cgroup->limits = cgroup_limits.limits;
        out.cgroup->memory_peak = st.memory_peak;
        out.cgroup->oom_kills = st.oom_kills;
        out.cgroup->cpu_user_us = st.cpu_user_us;
        out.cgroup->cpu_system_us = st.cpu_system_us;
        out.cgroup->cpu_throttled_us = st.cpu_throttled_us;
        out.cgroup->pids_peak = st.pids_peak;
        if (st.oom_kills && *st.oom_kills > 0) out.oom = true;
    }
    if (egress) out.egress = egress->report();
    if (names) out.egress_names = names->report();
    if (p.monitor) {
        out.refusals = std::map<std::string, uint64_t>{{"seccomp", monitor.refused()}};
        if (names) (*out.refusals)["egress"] = out.egress_names->refused;
    }
    if (lsm) out.bpf_lsm = lsm->report();
    if (learn_trace) learn_trace->collect(out);
    if (lsm_skipped) out.bpf_lsm = lsm_skipped;
    out.protections = protections(p, plan, maps ? &*maps : nullptr, cgroup != nullptr);
    for (const auto& h : held.held) out.protections.push_back("ceiling " + h);
    if (pasta)
        out.protections.emplace_back(std::string("net user (pasta: no host loopback, no gateway mapping") +
                                     (pasta->binds_ephemeral() ? "; host ports it was not given made ephemeral)" : ")"));
    if (guest_nic)
        out.protections.emplace_back("net user (the guest's own network device, carried by passt on the host: no host "
                                     "loopback, no gateway mapping)");
    if (names)
        out.protections.emplace_back("egress by name (" + std::to_string(p.network.allow_hosts.size()) + " --allow-host rules, " +
                                     std::to_string(p.egress.allow.size()) + " --allow-connect destinations" +
                                     (p.egress.deny.empty() ? "" : ", --deny-private") +
                                     "; resolver and proxy on lo, no other route)");
    if (veth)
        out.protections.push_back("net veth " + veth->address() + " via " + veth->gateway() + " (bridge " + p.network.bridge + ")");
    out.not_enforced = plan.steps.landlock_plan.not_enforced;
    if (p.namespaces.none)
        out.not_enforced.emplace_back("namespaces (--no-namespaces): the program shares the host's users, processes, "
                                      "mounts, network, hostname, IPC, cgroups and clocks; Landlock, seccomp and no_new_privs hold it");
    if (lsm_skipped) out.not_enforced.push_back("bpf-lsm: " + lsm_skipped->why);
    return out;
}

}  // namespace caisson
