#include "run/init.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/keyring.hpp"
#include "mech/capabilities.hpp"
#include "mech/fds.hpp"
#include "mech/loopback.hpp"
#include "mech/tap.hpp"
#include "mech/mounts.hpp"
#include "mech/pasta.hpp"
#include "mech/procfs_root.hpp"
#include "mech/timens.hpp"
#include "mech/tty.hpp"
#include "run/channel.hpp"
#include "run/prepared_program.hpp"
#include "run/opener.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace caisson::run {
namespace {

constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

uint64_t now_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

// Times each named step into the Started message, so the report shows where setup went.
class StepClock {
public:
    explicit StepClock(Message& m) : m_(m), last_(now_us()) {}
    void done(const char* name) {
        uint64_t t = now_us();
        if (m_.n_steps < kMaxSteps) {
            kernel::copy_cstr(m_.steps[m_.n_steps].name, name);
            m_.steps[m_.n_steps++].us = static_cast<uint32_t>(t - last_);
        }
        last_ = t;
    }

private:
    Message& m_;
    uint64_t last_;
};

[[noreturn]] void report_failure(int channel, const Failure& f) { run::report_failure(channel, f, kExitUsage); }

// The supervisor holds the other end; once it is gone, reading sees end-of-stream.
bool supervisor_alive(int channel) {
    pollfd p{channel, POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) == 0 || !(p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

// Init's own ids in its user namespace, and no supplementary group when the caller was root
// where setgroups is allowed (its maps left it allowed for that). An ordinary user's maps deny setgroups: the
// kernel keeps that user's groups, and caisson cannot drop them.
bool set_identity(uid_t uid, gid_t gid, bool drop_groups, Failure& f) {
    if (drop_groups && kernel::set_groups(0, nullptr) < 0) return f.set("setgroups", "supplementary groups, to none");
    if (kernel::set_res_gid(gid, gid, gid) < 0) return f.set("setresgid", "--gid");
    if (kernel::set_res_uid(uid, uid, uid) < 0) return f.set("setresuid", "--uid");
    return true;
}

// The helper for `[open]` rules, started by the program's process once it holds the
// program's privileges: the same ids, capabilities and Landlock domain (a domain of its own
// could not follow the caller's /proc/PID/fd links). Two raw forks, so that it is a child of
// init, never of the program (whose wait() must not see it), and a copy of this memory,
// never a sharer of init's. No process of the sandbox can trace it: it is not dumpable and
// its memory belongs to the host's user namespace, where the program has no CAP_SYS_PTRACE.
bool spawn_opener(LaunchPlan& plan, Failure& f) {
    long middle = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (middle < 0) return f.set("clone", "opener");
    if (middle == 0) {
        long opener = ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        if (opener == 0) {
            if (::dup2(plan.opener_fd, 3) < 0) ::_exit(kExitUsage);
            kernel::close_range(4, ~0U, 0);
            if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) ::_exit(kExitUsage);
            (void)::prctl(PR_SET_NAME, "caisson-opener", 0, 0, 0);  // for whoever lists the sandbox's processes
            opener::serve(3, plan.open_rules);
        }
        ::_exit(opener < 0 ? 1 : 0);
    }
    int status = 0;
    pid_t got;
    do got = ::waitpid(static_cast<pid_t>(middle), &status, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return f.set("start", "opener", ECHILD);
    ::close(plan.opener_fd);
    return true;
}

[[noreturn]] void exec_failed(int error_pipe, const Failure& f, const LaunchPlan& plan, bool filtered) {
    // Past the seccomp filter, only the calls the policy allows by number (preflight found
    // which): anything else could wait for a notification nobody reads yet.
    if (!filtered || plan.seccomp_allows_write) (void)!::write(error_pipe, &f, sizeof(f));
    int code = f.kind == ErrorKind::Exec ? (f.err == ENOENT ? kExitNotFound : kExitCannotExec) : kExitUsage;
    if (filtered) ::syscall(plan.seccomp_exit_nr, code);
    ::_exit(code);
}

// Between the program's privileges and its working directory: the opener (it takes the
// program's privileges from it), the parent-death signal (the id change cleared it), and the
// caller's signal mask back.
struct AfterPrivileges {
    LaunchPlan* plan;
    const sigset_t* mask;
};

bool after_privileges(void* ctx, Failure& f) {
    auto* a = static_cast<AfterPrivileges*>(ctx);
    if (a->plan->opener_fd >= 0 && !spawn_opener(*a->plan, f)) return false;
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return f.set("set parent-death signal", "program");
    ::sigprocmask(SIG_SETMASK, a->mask, nullptr);
    return true;
}

// The program's last steps, in the forked child: its terminal, then the steps every face
// takes (run/program_steps), then exec.
//
// Descriptors: init closed every host descriptor right after clone; here the program closes
// all but stdio, --pass-fd, the exec-status pipe, the opener's end (until the opener has it)
// and, only while it still has to travel or while init shares this table, the setup channel.
// Those are pipes and sockets of caisson's own, all close-on-exec: none names a file or a
// directory, so none is a way out when the working directory is resolved.
[[noreturn]] void exec_program(LaunchPlan& plan, const sigset_t& original_mask, int error_pipe, int error_pipe_init,
                               bool shared_table) {
    Failure f;
    const Policy& p = *plan.policy;
    bool filtered = false;
    auto fail = [&] { exec_failed(error_pipe, f, plan, filtered); };
    if (p.process.tty ? !mech::take_terminal_foreground(f) : !mech::detach_from_terminal(f)) fail();
    bool keep_channel = shared_table || plan.seccomp_listener_early;
    AfterPrivileges ctx{&plan, &original_mask};
    // The listener lands in the descriptor table this process shares with init (CLONE_FILES),
    // its number in the memory they share (CLONE_VM): init passes it to the supervisor.
    if (!take_program_steps(plan.steps,
                            {error_pipe, shared_table ? error_pipe_init : -1, keep_channel ? plan.channel : -1, plan.opener_fd},
                            &plan.seccomp_listener_fd, &filtered, f, {after_privileges, &ctx}))
        fail();
    if (filtered && plan.steps.seccomp_listener && plan.seccomp_listener_early) {
        Message m{};
        m.type = MsgType::Listener;
        if (!send_message(plan.channel, m, &plan.seccomp_listener_fd, 1)) f.set("send seccomp listener", "setup channel"), fail();
    }

    int err = ENOENT;
    // Keep looking along PATH past a missing file; remember a refusal.
    if (plan.held_argv) {
        for (char* const* candidate = plan.held_candidates; *candidate; ++candidate) {
            ::execve(*candidate, plan.held_argv, plan.held_envp);
            if (errno != ENOENT && errno != ENOTDIR) err = errno;
        }
    } else {
        for (const auto& candidate : plan.exec_candidates) {
            ::execve(candidate.c_str(), plan.argv.data(), plan.envp.data());
            if (errno != ENOENT && errno != ENOTDIR) err = errno;
        }
    }
    f.set("exec", plan.held_argv ? plan.held_argv[0] : plan.argv[0], err, ErrorKind::Exec);
    exec_failed(error_pipe, f, plan, filtered);
}

int find_listener() {
    for (int fd = 3; fd < 1024; ++fd) {
        char path[32], target[64];
        kernel::RawBuf(path, sizeof(path)).str("/proc/self/fd/").num(fd);
        ssize_t n = ::readlink(path, target, sizeof(target) - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        if (std::strcmp(target, "anon_inode:seccomp notify") == 0) return fd;
    }
    return -1;
}

// The sandbox's own budget of what the kernel counts per user namespace, and its network
// namespace's settings, through the procfs root `proc`, beneath it alone.
bool write_namespace_settings(int proc, void* arg, Failure& f) {
    const LaunchPlan& plan = *static_cast<const LaunchPlan*>(arg);
    for (const auto& [file, value] : plan.sysctls) {
        kernel::Fd fd(kernel::openat2(proc, file.c_str(), O_WRONLY | O_CLOEXEC,
                                      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV));
        if (!fd) return f.set("open a setting of the sandbox's namespaces", file.c_str());
        ssize_t n = ::write(fd.get(), value.data(), value.size());
        if (n != static_cast<ssize_t>(value.size()))
            return f.set("write a setting of the sandbox's namespaces", file.c_str(), n < 0 ? errno : EIO);
    }
    return plan.tcp_wmem_cap <= 0 || mech::cap_own_tcp_wmem(proc, plan.tcp_wmem_cap, f);
}

struct SpawnArgs {
    LaunchPlan* plan;
    int error_pipe;       // the program's end
    int error_pipe_init;  // init's end
    bool shared_table;    // CLONE_FILES: what the program closes, init loses too
};

int program_entry(void* arg) {
    auto* a = static_cast<SpawnArgs*>(arg);
    exec_program(*a->plan, a->plan->caller_sigmask, a->error_pipe, a->error_pipe_init, a->shared_table);
}

// With a pid namespace, init's exit takes every process with it. Without one, init is a
// subreaper and kills what reparented to it.
void kill_remaining_children() {
    char path[64];
    kernel::RawBuf(path, sizeof(path)).str("/proc/self/task/").num(::getpid()).str("/children");
    for (int round = 0; round < 64; ++round) {
        kernel::Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
        if (!fd) return;
        char buf[4096];
        ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
        if (n <= 0) return;
        buf[n] = '\0';
        for (char* s = buf; *s;) {
            char* end = nullptr;
            long pid = std::strtol(s, &end, 10);
            if (end == s) break;
            // Killed, then waited for by pid: a process that reparents to us later is seen
            // in the next round instead of blocking this one.
            if (pid > 0 && ::kill(static_cast<pid_t>(pid), SIGKILL) == 0) ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
            s = end;
        }
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
    }
}

[[noreturn]] void init_loop(LaunchPlan& plan, pid_t program, const sigset_t& waitset) {
    for (;;) {
        siginfo_t info{};
        int sig = ::sigwaitinfo(&waitset, &info);
        if (sig < 0) continue;
        if (sig != SIGCHLD) {
            // Only signals from outside the sandbox (the supervisor) are forwarded: inside
            // the pid namespace they carry a sender pid, from outside they carry 0.
            if (info.si_pid == 0 || !plan.policy->namespaces.pid) ::kill(program, sig);
            continue;
        }
        int status = 0;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != program) continue;
            if (!plan.policy->namespaces.pid) kill_remaining_children();
            Message m{};
            m.type = MsgType::Exited;
            m.wait_status = status;
            send_message(plan.channel, m);
            ::_exit(0);
        }
    }
}

}  // namespace

[[noreturn]] void container_init(LaunchPlan& plan) {
    const Policy& p = *plan.policy;
    // Init waits for its program by SIGCHLD: a caller that ignores it (inherited through the
    // clone) would have the kernel reap the program unseen, and init wait for good.
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGCHLD, &dfl, nullptr);
    // Nothing of the caller's code runs here on a signal: every handler it installed is reset
    // (signals are blocked from the clone until then). Ignored ones stay ignored, as they
    // would through the caller's own exec.
    for (int sig = 1; sig < NSIG; ++sig) {
        struct sigaction cur{};
        if (sig == SIGKILL || sig == SIGSTOP || ::sigaction(sig, nullptr, &cur) < 0) continue;
        if (cur.sa_handler != SIG_IGN && cur.sa_handler != SIG_DFL) ::sigaction(sig, &dfl, nullptr);
    }
    Failure f;
    // Out of the caller's session and process group: a terminal's or a group's signals are
    // the caller's to pass on (forward_signals), never received twice. With --tty the program
    // takes the caller's terminal, which needs the caller's session.
    if (!p.process.tty && ::setsid() < 0) report_failure(plan.channel, (f.set("setsid", "init"), f));
    Message started{};
    started.type = MsgType::Started;
    StepClock clock(started);

    // 0. No descriptor of the host stays: the supervisor's cgroup directory, pidfds, BPF
    // objects, namespace and log files, and whatever a library caller had open, are closed
    // (not marked close-on-exec) before anything resolves a path (CVE-2024-21626).
    // The program's streams first, from the caller's descriptors that the close then takes.
    if (p.process.stdio != std::array<int, 3>{0, 1, 2}) {
        const int from[3] = {p.process.stdio[0], p.process.stdio[1], p.process.stdio[2]};
        if (!mech::redirect_stdio(from, f)) report_failure(plan.channel, f);
    }
    if (!mech::close_fds_except(plan.steps.pass_fds, {plan.channel, plan.opener_fd, plan.root.overlay.prebuilt_root}, f))
        report_failure(plan.channel, f);

    // 1. Wait until the supervisor has written the id maps (and passed the overlay layers).
    Message go{};
    if (recv_message(plan.channel, go) <= 0 || go.type != MsgType::Go) ::_exit(kExitUsage);
    clock.done("wait-maps");
    // Rooted at the sandbox's own cgroups, which the supervisor has moved us into by now.
    if (plan.cgroupns_after_join && ::unshare(CLONE_NEWCGROUP) < 0)
        report_failure(plan.channel, (f.set("unshare", "cgroup namespace"), f));

    // 2. Identity inside. Changing ids clears the parent-death signal and sets dumpability
    // from fs.suid_dumpable, so both are set after. Not dumpable while the host's root is
    // still this process's: the user namespace is the caller's, and as root the kernel gives
    // any process of the host's uid 0, capabilities or none (a container in the host's pid
    // namespace), CAP_SYS_PTRACE in it, and /proc/PID/root would lead it to the host's files.
    if (plan.new_userns && !set_identity(plan.steps.uid, plan.steps.gid, plan.drop_groups, f)) report_failure(plan.channel, f);
    if (plan.new_session_keyring && !mech::join_session_keyring(nullptr, f)) report_failure(plan.channel, f);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        report_failure(plan.channel, (f.set("prctl", "PDEATHSIG/DUMPABLE"), f));
    if (!supervisor_alive(plan.channel)) ::_exit(kExitUsage);
    // The sandbox's own budget of what the kernel counts per user namespace, and its network
    // namespace's settings: root here has CAP_SYS_RESOURCE and CAP_NET_ADMIN over them, and
    // the host's procfs shows us our own namespaces' /proc/sys.
    // Beneath the procfs root alone, on that filesystem: nothing mounted over /proc/sys where
    // caisson was started is followed.
    // Where init mounts a procfs of its own, through that one, as soon as it is made (the
    // kernel picks the settings by the writer's namespaces, not by the procfs): a clone of
    // the host's /proc would be unmounted when closed, which waits for an RCU grace period.
    const bool settings = !plan.sysctls.empty() || plan.tcp_wmem_cap > 0;
    if (settings && p.namespaces.mount && plan.root.proc_fresh) {
        plan.root.with_fresh_proc = write_namespace_settings;
        plan.root.with_fresh_proc_arg = &plan;
    } else if (settings) {
        kernel::Fd proc(mech::open_procfs_root("/proc (the sandbox's namespaces' settings)", f));
        if (!proc || !write_namespace_settings(proc.get(), &plan, f)) report_failure(plan.channel, f);
    }
    if (!p.namespaces.pid && ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        report_failure(plan.channel, (f.set("prctl", "CHILD_SUBREAPER"), f));
    clock.done("identity");

    // 3. The filesystem.
    if (p.namespaces.mount) {
        if (!mech::build_root(plan.root, f)) report_failure(plan.channel, f);
        if (p.process.stdio != std::array<int, 3>{0, 1, 2}) {
            const int from[3] = {p.process.stdio[0], p.process.stdio[1], p.process.stdio[2]};
            if (!mech::reopen_null_inside(from, f)) report_failure(plan.channel, f);
        }
        clock.done("mounts");
    }

    // 4. Hostname and network.
    if (p.namespaces.uts && ::sethostname(p.hostname.data(), p.hostname.size()) < 0)
        report_failure(plan.channel, (f.set("sethostname", p.hostname.c_str()), f));
    if (p.namespaces.net) {
        if (!mech::bring_up_loopback(f)) report_failure(plan.channel, f);
        // Best effort: without it the program may see the link down for up to a second, and
        // its traffic flows all the same; no protection rests on it.
        if (plan.settle_link) {
            Failure ignored;
            (void)mech::settle_link_state(plan.settle_link, ignored);
        }
        clock.done("network");
    }

    // 5. The time namespace, entered by the program when it is forked. Its offsets are a
    // /proc/self file, which only a dumpable process may write as its own: dumpable for that
    // write alone, with the sandbox's root in place (not dumpable again below).
    if (plan.new_timens) {
        if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) report_failure(plan.channel, (f.set("prctl", "PR_SET_DUMPABLE"), f));
        if (!mech::enter_time_namespace_for_children(plan.timens_offsets, f)) report_failure(plan.channel, f);
        if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) report_failure(plan.channel, (f.set("prctl", "PR_SET_DUMPABLE"), f));
        clock.done("time-ns");
    }

    // 5b. A sandbox made ahead of its program: ready; the program and its standard streams
    // come from the supervisor, into pages of its own (no heap here, and no room taken
    // from an ordinary init's stack). Not dumpable while it waits, however long.
    if (plan.hold_for_program) {
        constexpr size_t kBytes = kMaxProgramText + 1 + kMaxProgramStrings * sizeof(char*);
        void* area = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (area == MAP_FAILED) report_failure(plan.channel, (f.set("mmap", "the program's packet"), f));
        auto* program_strings = static_cast<char**>(area);
        char* program_text = static_cast<char*>(area) + kMaxProgramStrings * sizeof(char*);
        if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) report_failure(plan.channel, (f.set("prctl", "PR_SET_DUMPABLE"), f));
        Message ready{};
        ready.type = MsgType::Ready;
        if (!send_message(plan.channel, ready)) ::_exit(kExitUsage);
        if (!take_program(plan.channel, plan, program_text, kMaxProgramText + 1, program_strings, kMaxProgramStrings, f))
            report_failure(plan.channel, f);
        clock.done("wait-program");
    }

    // Not dumpable from before the program exists (dumpability belongs to the memory the
    // program shares until exec): it can never ptrace init or open /proc/1/* (CVE-2019-5736).
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) report_failure(plan.channel, (f.set("prctl", "PR_SET_DUMPABLE"), f));

    // 6. The program. Signals stay blocked (all were, from the clone) so none is lost
    // before the loop below waits for them; the program gets the caller's mask back.
    sigset_t waitset;
    ::sigemptyset(&waitset);
    for (int s : kForwarded) ::sigaddset(&waitset, s);
    ::sigaddset(&waitset, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &waitset, nullptr);
    int error_pipe[2];
    if (::pipe2(error_pipe, O_CLOEXEC) < 0) report_failure(plan.channel, (f.set("pipe", "exec status"), f));
    // Like posix_spawn: the program shares init's memory until it execs (CLONE_VM |
    // CLONE_VFORK), so no page tables are copied; init is suspended meanwhile, and the
    // program writes nothing but its own stack (and errno) before exec.
    SpawnArgs spawn{&plan, error_pipe[1], error_pipe[0], plan.steps.seccomp_listener};
    alignas(64) char stack[64 * 1024];
    int spawn_flags = CLONE_VM | CLONE_VFORK | SIGCHLD | (plan.steps.seccomp_listener ? CLONE_FILES : 0);
    pid_t program = ::clone(program_entry, stack + sizeof(stack), spawn_flags, &spawn);
    bool shared_memory = true;
    if (program < 0 && errno == EINVAL && plan.new_timens) {
        // Older kernels (Debian 12's 6.1) refuse a child that shares its parent's memory across a time
        // namespace change (its vvar page differs): a plain vfork copies the memory instead.
        shared_memory = false;
        program = ::clone(program_entry, stack + sizeof(stack), spawn_flags & ~CLONE_VM, &spawn);
    }
    if (program < 0) report_failure(plan.channel, (f.set("clone", "program"), f));
    ::close(error_pipe[1]);
    Failure exec_failure;
    ssize_t n;
    do n = ::read(error_pipe[0], &exec_failure, sizeof(exec_failure));
    while (n < 0 && errno == EINTR);
    ::close(error_pipe[0]);
    if (n == static_cast<ssize_t>(sizeof(exec_failure))) {
        ::waitpid(program, nullptr, 0);
        report_failure(plan.channel, exec_failure);
    }
    clock.done("spawn");
    // The listener's number reached us through shared memory, or, with a copy of it, is
    // found in the descriptor table the program shared with us until it exec'd.
    int listener = shared_memory ? plan.seccomp_listener_fd : (plan.steps.seccomp_listener ? find_listener() : -1);
    if (!send_message(plan.channel, started, listener >= 0 ? &listener : nullptr, listener >= 0 ? 1 : 0)) {
        ::kill(program, SIGKILL);
        ::_exit(kExitUsage);
    }
    if (listener >= 0) ::close(listener);

    // 7. Init keeps nothing it does not need: no capabilities, no descriptor but the channel.
    if (!mech::drop_capabilities_without_exec(f) || !mech::set_no_new_privs(f)) {
        ::kill(program, SIGKILL);
        report_failure(plan.channel, f);
    }
    if (plan.channel > 3) kernel::close_range(3, static_cast<unsigned>(plan.channel) - 1, 0);
    kernel::close_range(static_cast<unsigned>(plan.channel) + 1, ~0U, 0);
    init_loop(plan, program, waitset);
}

}  // namespace caisson::run
