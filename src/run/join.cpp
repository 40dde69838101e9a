#include "run/join.hpp"

#include "kernel/fd.hpp"
#include "mech/apparmor.hpp"
#include "mech/capabilities.hpp"
#include "mech/clone.hpp"
#include "mech/console.hpp"
#include "mech/fds.hpp"
#include "mech/keyring.hpp"
#include "mech/seccomp.hpp"
#include "run/channel.hpp"
#include "run/program_steps.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <cerrno>
#include <csignal>
#include <cstdio>

namespace caisson::run {
namespace {

struct NsFile {
    const char* name;
    int flag;
};
constexpr NsFile kNs[] = {{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID}, {"net", CLONE_NEWNET},
                          {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS}, {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME}};

// The namespaces of the container's init that are not this process's (setns refuses to
// "join" one's own user namespace, and the others cost a change for nothing). Fail closed:
// a namespace that cannot be read is an error, never one left out, or an init that ended
// meanwhile (its /proc entry gone) would have the process run in the host's namespaces. The
// pid names the init only while it is alive: checked through its pidfd after the reading.
int differing_namespaces(pid_t pid, int pidfd) {
    int flags = 0;
    for (const auto& n : kNs) {
        struct stat mine{}, theirs{};
        std::string self = std::string("/proc/self/ns/") + n.name;
        std::string other = "/proc/" + std::to_string(pid) + "/ns/" + n.name;
        if (::stat(self.c_str(), &mine) < 0) {
            if (errno == ENOENT) continue;  // a kind of namespace this kernel does not have
            throw Error(ErrorKind::Setup, "exec: stat", self, errno);
        }
        if (::stat(other.c_str(), &theirs) < 0) throw Error(ErrorKind::Setup, "exec: the container's namespace", other, errno);
        if (mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev) flags |= n.flag;
    }
    if (::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) < 0)
        throw Error(ErrorKind::Setup, "exec: the container's init", "ended while its namespaces were read", errno);
    // Every container has a mount namespace of its own: one that does not is not a container.
    if (!(flags & CLONE_NEWNS))
        throw Error(ErrorKind::Setup, "exec: the container's init", "is in the runtime's own mount namespace", EPERM);
    return flags;
}

[[noreturn]] void child_fail(int channel, const Failure& f) {
    report_failure(channel, f, f.err == ENOENT && f.kind == ErrorKind::Exec ? 127 : 126);
}


// The helper, a fork of the runtime: joins, clones the process, reports its pid, exits.
[[noreturn]] void helper(JoinPlan& plan, int ns_flags, int channel, const sigset_t& process_mask) {
    Failure f;
    auto fail = [&] { child_fail(channel, f); };
    // Only what the helper needs stays open: the cgroup directory, the state directory, the
    // runtime's log and its caller's descriptors are closed before anything enters the
    // container (CVE-2024-21626).
    std::vector<int> keep{channel, plan.init_pidfd};
    if (plan.console_socket >= 0) keep.push_back(plan.console_socket);
    if (plan.process.monitor_fd >= 0) keep.push_back(plan.process.monitor_fd);
    for (unsigned fd = 3; fd < 3 + plan.process.preserve_fds; ++fd) keep.push_back(static_cast<int>(fd));
    std::sort(keep.begin(), keep.end());
    if (!mech::close_fds_except(keep, {}, f)) fail();
    // Nor the runtime's caller's environment (a token of the shell that ran `exec`): wiped in
    // this copy's memory, where /proc/PID/environ reads it, before anything enters the
    // container. The process gets the config's environment at its exec.
    for (char** e = environ; e && *e; ++e) ::explicit_bzero(*e, std::strlen(*e));
    environ = nullptr;
    // Its child enters the container's pid namespace as this binary: non-dumpable until it
    // execs (CVE-2019-5736).
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) f.set("prctl", "PR_SET_DUMPABLE"), fail();
    if (!set_cpu_affinity(plan.initial_cpus, "process.execCPUAffinity.initial", f)) fail();
    // The cgroup first (its files are the host's), then the namespaces, all at once.
    for (const auto& file : plan.cgroup_procs) {
        kernel::Fd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd || ::write(fd.get(), "0", 1) != 1) f.set("join cgroup", file.c_str()), fail();
    }
    // The container's score, inherited by what the helper clones (the runtime's caller, a
    // shim, may run at -998: a process left with it would be the last one the host kills).
    if (plan.oom_score_adj) {
        char adj[16];
        const int len = std::snprintf(adj, sizeof(adj), "%d", *plan.oom_score_adj);
        kernel::Fd fd(::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
        if (!fd || ::write(fd.get(), adj, static_cast<size_t>(len)) != len) f.set("write", "/proc/self/oom_score_adj"), fail();
    }
    // AppArmor's profile for the exec, named now, through the runtime's own /proc: in the
    // container's, which shows the container's pid namespace alone, this helper has no
    // thread-self. What a thread names for its next exec goes with it through setns and to
    // the process it clones, and is taken at that process's exec.
    if (!plan.process.steps.apparmor_profile.empty()) {
        if (!mech::set_apparmor_exec_profile(plan.process.steps.apparmor_profile, f)) fail();
        plan.process.steps.apparmor_profile.clear();
    }
    // All of them at once through the pidfd, or none: the mount namespace among them
    // (differing_namespaces requires it), so what follows resolves in the container.
    if (::setns(plan.init_pidfd, ns_flags) < 0) f.set("setns", "container namespaces"), fail();
    // From its clone to its exec the process is in the container's pid namespace, where a
    // process of the container granted CAP_SYS_PTRACE (without a user namespace of its own)
    // can take it over past non-dumpability (CVE-2016-9962's kind; an attack run injected a
    // mount of procfs into it and wrote the host's core_pattern). So every step that needs a
    // privilege is taken here, by this helper, which is not in that namespace (setns gives
    // it to the children alone) and which no process of the container can see: the ids, the
    // capabilities, the filter, the working directory, the terminal. The process it clones
    // holds from its first instruction what the program will hold: it makes itself a session
    // leader of its terminal, waits for its scheduler when the config names one, takes
    // caisson's own protections (no privilege needed) and execs.
    // caisson's own guard filter goes in first, while the helper holds its whole set: it
    // allows every step that follows, and no capability is kept for it. The config's filter
    // goes in later (take_program_steps) and then judges the clone below (plain clone(2))
    // and the process's last calls.
    // A session keyring of its own before the guard, which refuses the keyring calls to a
    // container that shares the host's uids (the process inherits it at the clone below).
    if (plan.new_session_keyring && !mech::join_session_keyring(nullptr, f)) fail();
    if (!plan.process.steps.guard.empty()) {
        if (!mech::install_seccomp(plan.process.steps.guard, nullptr, f)) fail();
        plan.process.steps.guard.clear();
    }
    {
        const mech::CapabilitySets& c = plan.process.steps.caps;
        uint64_t keep = c.bounding & (c.effective | c.permitted | c.inheritable | c.ambient);
        for (int cap : {CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_SYS_RESOURCE, CAP_SYS_NICE})
            keep |= 1ull << cap;
        // A filter installed without no_new_privs needs CAP_SYS_ADMIN (it goes in first).
        if (plan.process.steps.filter_first && !plan.process.steps.seccomp.empty()) keep |= 1ull << CAP_SYS_ADMIN;
        // The bounding set is the process's at once: an exec forced into it as uid 0 would
        // otherwise regain the whole set.
        if (!mech::narrow_capabilities(keep, c.bounding, f)) fail();
    }
    // The marker name, which the process is cloned with: from its first instruction to its
    // exec it bears it (see join_container).
    ::prctl(PR_SET_NAME, plan.marker, 0, 0, 0);
    ContainerProcess& p = plan.process;
    // The terminal: opened, handed to the client and made the standard streams here, as root;
    // the process takes it as its controlling terminal once it leads a session of its own.
    if (p.console) {
        mech::ConsoleSpec console = *p.console;
        console.controlling = false;
        if (!mech::open_console(plan.console_socket, console, f)) fail();
    }
    if (plan.console_socket >= 0) ::close(plan.console_socket);
    ::close(plan.init_pidfd);
    if (!resolve_executable(p, f)) fail();
    p.runtime_fds[0] = channel;
    // A user other than root keeps through its exec only its ambient set: what else the
    // config gives it (`exec --user 1000 --cap X`) it is never given here, in the plan, so
    // that the process does not hold it before its exec either (an attack run used
    // CAP_DAC_READ_SEARCH that way, from a process it took over). Its last steps (caisson's
    // own Landlock rules, the exec's path walk) then take no capability, as the program's
    // own calls take none.
    if (p.steps.change_ids && p.steps.uid != 0) {
        p.steps.caps.effective &= p.steps.caps.ambient;
        p.steps.caps.permitted &= p.steps.caps.ambient;
    }
    // The scheduler is not the helper's to take: a SCHED_DEADLINE task cannot fork, and one
    // with SCHED_FLAG_RESET_ON_FORK would clone a process without it. The runtime sets it on
    // the process by its pid, and the process waits for that before its exec.
    const bool scheduled_by_runtime = p.steps.scheduling.has_value();
    p.steps.scheduling.reset();
    int listener = -1;
    if (!prepare_process(p, &listener, f)) fail();
    // The config's notifications have no agent here (its listenerPath gets the init's
    // listener, at create): closed before the clone, not left in a process that a container
    // process could take over and answer them from (a review's attack run did).
    if (listener >= 0) ::close(listener);
    mech::CloneRequest request;
    request.flags = CLONE_PARENT;
    request.exit_signal = 0;  // CLONE_PARENT takes the runtime's (SIGCHLD)
    request.want_pidfd = false;
    request.plain_clone = true;  // under the config's filter now, which may refuse clone3 any way
    mech::Cloned cloned;
    if (!mech::clone_process(request, cloned)) f.set("clone", "exec process (under the config's filter)"), fail();
    if (cloned.pid > 0) {
        Message m{};
        m.type = MsgType::Started;
        m.wait_status = static_cast<int>(cloned.pid);
        // A process the runtime was not told of would outlive it: none is left.
        if (!send_message(channel, m)) {
            ::kill(static_cast<pid_t>(cloned.pid), SIGKILL);
            ::_exit(1);
        }
        ::_exit(0);
    }
    // The process: a session of its own and its terminal, caisson's own Landlock and stacked
    // filter (no privilege needed: no_new_privs), then the exec.
    ::sigprocmask(SIG_SETMASK, &process_mask, nullptr);
    if (::setsid() < 0) f.set("setsid", "exec process"), fail();
    if (p.console && !mech::take_controlling_terminal(0, f)) fail();
    if (scheduled_by_runtime) {
        Message go{};
        if (recv_message(channel, go) <= 0 || go.type != MsgType::Go) f.set("wait for the scheduler", "process.scheduler", EPROTO), fail();
    }
    exec_process(p, f);
    child_fail(channel, f);
}

}  // namespace

pid_t join_container(JoinPlan& plan, const sigset_t& process_mask) {
    int ns_flags = differing_namespaces(plan.init_pid, plan.init_pidfd);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) throw Error(ErrorKind::Setup, "socketpair", "exec channel", errno);
    kernel::Fd ours(sv[0]), theirs(sv[1]);
    // The name the process bears until its exec, which only the exec replaces (the container
    // cannot rename another process): a death before the exec is told by it.
    uint64_t nonce = 0;
    if (::getrandom(&nonce, sizeof nonce, 0) != static_cast<ssize_t>(sizeof nonce))
        throw Error(ErrorKind::Setup, "getrandom", "exec: a name for the process", errno);
    char marker[16];
    std::snprintf(marker, sizeof marker, "cx-%012llx", static_cast<unsigned long long>(nonce & 0xffffffffffffull));
    std::snprintf(plan.marker, sizeof plan.marker, "%s", marker);
    // Until the process has exec'd, these end the wait instead of their default: SIGCHLD
    // says that it stopped or died, and the others that the caller wants it over. Blocked
    // here (and restored after), so that a signalfd takes them; the helper unblocks its own.
    // SIGCHLD at its default, whatever the caller had: ignored, a child's death would be
    // reaped before it could be looked at, and a stop would not be said.
    struct sigaction dfl{}, old_chld{};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGCHLD, &dfl, &old_chld);
    sigset_t watched, before;
    ::sigemptyset(&watched);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) ::sigaddset(&watched, sig);
    ::pthread_sigmask(SIG_BLOCK, &watched, &before);
    // A SIGCHLD read here may be the process's own end (a program that exits at once): it is
    // raised again for the caller, who waits for that end by it.
    struct Restore {
        const sigset_t& mask;
        const struct sigaction& chld;
        bool child_signal = false;
        ~Restore() {
            if (child_signal) ::raise(SIGCHLD);
            ::sigaction(SIGCHLD, &chld, nullptr);
            ::pthread_sigmask(SIG_SETMASK, &mask, nullptr);
        }
    } restore{before, old_chld};
    kernel::Fd signals(::signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals) throw Error(ErrorKind::Setup, "signalfd", "exec: the wait for the process's start", errno);
    pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorKind::Setup, "fork", "exec helper", errno);
    if (pid == 0) {
        ::close(ours.release());
        ::close(signals.release());
        helper(plan, ns_flags, theirs.get(), process_mask);
    }
    theirs.reset();
    // The helper joins the container's cgroup, which a container with a writable cgroup mount
    // may freeze: it is never waited for without a bound, and is reaped once it has ended.
    pid_t process = 0;
    auto reap_helper = [&] {
        if (pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == pid) pid = 0;
    };
    // Killed and reaped, waiting ten seconds at most: SIGKILL ends a stopped process at once,
    // a frozen one only once thawed (then the container's init reaps it, after this runtime).
    // Reaped here, it leaves no zombie in the container to count against its pids limit.
    auto kill_and_reap = [](pid_t victim) {
        ::kill(victim, SIGKILL);
        kernel::Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, victim, 0)));
        if (pidfd) {
            pollfd p{pidfd.get(), POLLIN, 0};
            while (::poll(&p, 1, 10000) < 0 && errno == EINTR) {
            }
        }
        (void)::waitpid(victim, nullptr, WNOHANG);
    };
    // A stop, a death, the caller's signal, or a minute without its exec ends the wait: the
    // process (and the helper) are killed and the exec fails. A process that a frozen cgroup
    // holds dies when it is thawed, and is then reaped by the container's init.
    auto give_up = [&](const std::string& why) {
        if (process > 0) kill_and_reap(process);
        if (pid > 0) kill_and_reap(pid), pid = 0;
        throw Error(ErrorKind::Setup, "exec", why, ECANCELED);
    };
    // Dead before its exec: the channel closes as it does at an exec. A process that still has
    // its memory has exec'd (an exec maps the new program before it closes the close-on-exec
    // descriptors, and renames the process only after: its name alone would misjudge it
    // there); an exit drops the memory, and /proc/PID/exe with it, before the descriptors. One
    // that has ended bears the marker name if it never exec'd (read from /proc while it is a
    // zombie: SIGCHLD is not ignored).
    auto died_before_exec = [&] {
        struct stat st{};
        if (::stat(("/proc/" + std::to_string(process) + "/exe").c_str(), &st) == 0) return false;
        char its[32] = {};
        kernel::Fd b(::open(("/proc/" + std::to_string(process) + "/comm").c_str(), O_RDONLY | O_CLOEXEC));
        ssize_t n = b ? ::read(b.get(), its, sizeof its - 1) : -1;
        if (n > 0 && its[n - 1] == '\n') its[n - 1] = '\0';
        return n > 0 && std::string_view(its) == marker;
    };
    // Waits for the channel: true when it has a message or has ended. The channel is looked
    // at first: a process that has exec'd is the program's, whatever signal came meanwhile
    // (left pending for the caller to pass on).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    auto wait_channel = [&](const char* waiting_for) {
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) give_up(std::string("the process did not reach ") + waiting_for + " within 60 s");
            pollfd fds[2] = {{ours.get(), POLLIN, 0}, {signals.get(), POLLIN, 0}};
            int n = ::poll(fds, 2, static_cast<int>(left));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) give_up(std::string("poll: ") + std::strerror(errno));
            if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) return;
            if (!(fds[1].revents & POLLIN)) continue;
            signalfd_siginfo info{};
            while (::read(signals.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
                if (info.ssi_signo == SIGCHLD) restore.child_signal = true;
                else
                    give_up(std::string("interrupted by SIG") + ::sigabbrev_np(static_cast<int>(info.ssi_signo)) + " before " +
                            waiting_for);
            }
            reap_helper();
            siginfo_t si{};
            if (process > 0 && ::waitid(P_PID, static_cast<id_t>(process), &si, WSTOPPED | WNOHANG | WNOWAIT) == 0 &&
                si.si_pid == process && si.si_code == CLD_STOPPED)
                give_up("the process was stopped (SIG" + std::string(::sigabbrev_np(si.si_status)) +
                        ") before its exec, by a process of the container");
        }
    };
    wait_channel("its start");
    Message m{};
    if (recv_message(ours.get(), m) <= 0) give_up("the helper ended without a word");
    if (m.type == MsgType::Failed) {
        reap_helper();
        throw_failure(m.failure);
    }
    process = m.wait_status;
    // Only the runtime's own child is its process (CLONE_PARENT): a pid the channel names
    // otherwise (a message forged by whoever took the process over) is never signalled.
    siginfo_t own{};
    if (process <= 0 || ::waitid(P_PID, static_cast<id_t>(process), &own, WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT) < 0)
        give_up("the helper named pid " + std::to_string(process) + ", which is not this runtime's child");
    if (plan.process.steps.scheduling) {
        Failure sf;
        if (!apply_scheduling(process, *plan.process.steps.scheduling, sf)) {
            const std::string why = std::string(sf.step) + " " + sf.object + ": " + std::strerror(sf.err);
            give_up(why);
        }
        Message go{};
        go.type = MsgType::Go;
        if (!send_message(ours.get(), go)) give_up("tell the process its scheduler is set");
    }
    // From here to its exec the process is in the container's pid namespace, where the
    // container's processes may signal it (an attack run stopped it with SIGSTOP, and the
    // runtime waited for ever, deaf to SIGTERM; killed it, and exec -d said 0).
    wait_channel("its exec");
    reap_helper();
    // End of stream: the process exec'd (the channel is close-on-exec), or died first. A
    // message: it failed, and is killed before it is reaped (it may be stopped meanwhile).
    Message result{};
    if (recv_message(ours.get(), result) > 0 && result.type == MsgType::Failed) {
        kill_and_reap(process);
        throw_failure(result.failure);
    }
    if (died_before_exec()) give_up("the process was killed before its exec, by a process of the container");
    return process;
}

}  // namespace caisson::run
