// `exec`: the process OCI's exec describes (from --process or the container's own, with the
// command line's overrides), started in the container by the one launcher's join
// (run/join), then waited for here, in the foreground, or left detached.

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/cgroup.hpp"
#include "mech/cgroup_detect.hpp"
#include "oci/foreground.hpp"
#include "oci/process_setup.hpp"
#include "oci/spec.hpp"
#include "mech/idmap.hpp"
#include "oci/state.hpp"
#include "mech/unix_socket.hpp"
#include "oci/wait.hpp"
#include "run/join.hpp"

#include <caisson/error.hpp>
#include <caisson/oci.hpp>

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cerrno>
#include <memory>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

namespace caisson::oci {
namespace {

Process exec_process(const ExecOptions& o, const Spec& spec) {
    if (!o.process_file.empty()) {
        std::ifstream in(o.process_file);
        if (!in) throw Error(ErrorKind::Usage, "open --process", o.process_file, errno);
        std::stringstream ss;
        ss << in.rdbuf();
        Process p = parse_process(parse_json(ss.str(), o.process_file));
        // runc's: an exec'd process runs under the container's AppArmor profile unless it
        // names its own (--apparmor, or the file's); never unconfined beside a confined init.
        if (!o.apparmor.empty()) p.apparmor_profile = o.apparmor;
        if (p.apparmor_profile.empty() && spec.process) p.apparmor_profile = spec.process->apparmor_profile;
        return p;
    }
    // runc's: the container's process as the template, with these arguments and overrides.
    Process p = *spec.process;
    if (o.args.empty()) throw Error::usage("exec: a command is required");
    p.args = o.args;
    p.terminal = o.tty;
    p.console_size.reset();
    for (const auto& e : o.env) {
        auto eq = e.find('=');
        std::string key = e.substr(0, eq);
        p.env.erase(std::remove_if(p.env.begin(), p.env.end(), [&](const std::string& x) { return x.rfind(key + "=", 0) == 0; }),
                    p.env.end());
        p.env.push_back(e);
    }
    if (!o.cwd.empty()) p.cwd = o.cwd;
    if (!o.user.empty()) {
        auto colon = o.user.find(':');
        // Whole decimal numbers below 2^32 - 1 (which is -1, "no id"): std::stoul took
        // "4294967296" and a narrowing cast made it 0, root.
        auto id = [&](const std::string& text) {
            uint32_t v = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v == UINT32_MAX)
                throw Error::usage("exec --user: expected UID[:GID] (numbers below 4294967295), not " + o.user);
            return v;
        };
        p.user.uid = id(o.user.substr(0, colon));
        if (colon != std::string::npos) p.user.gid = id(o.user.substr(colon + 1));
    }
    if (!o.caps.empty()) {
        CapabilitySets c = p.capabilities.value_or(CapabilitySets{});
        uint64_t add = capability_bits(o.caps, "exec --cap");
        // Bounding, effective and permitted only, as runc since 1.1.2: an inheritable (or
        // ambient) capability would pass on through exec to programs that were never given
        // it (CVE-2022-29162).
        c.bounding |= add, c.effective |= add, c.permitted |= add;
        p.capabilities = c;
    }
    if (o.no_new_privs) p.no_new_privileges = true;
    if (!o.apparmor.empty()) p.apparmor_profile = o.apparmor;
    return p;
}

}  // namespace

int exec_in_container(const ExecOptions& o) {
    StateDir dir(o.root, o.id);
    if (!dir.exists()) throw Error::usage("container " + o.id + " does not exist");
    ContainerState s = dir.load();
    auto layout = mech::detect_cgroups();
    std::unique_ptr<mech::SandboxCgroup> cg;
    if (!s.cgroup_name.empty()) cg = mech::SandboxCgroup::open(layout, s.cgroup_parent, s.cgroup_name, s.cgroup_shared_parent);
    struct Release {
        std::unique_ptr<mech::SandboxCgroup>& c;
        ~Release() {
            if (c) c->release();
        }
    } release{cg};
    Status st = dir.status(s, cg && cg->frozen());
    if (st == Status::Stopped) throw Error::usage("cannot exec in a stopped container");
    if (st == Status::Paused) throw Error::usage("cannot exec in a paused container");

    Spec spec = parse_spec_json(s.config);
    Process process = exec_process(o, spec);
    if (process.terminal && o.console_socket.empty() && o.detach)
        throw Error::usage("cannot allocate tty if caisson-oci will detach without setting console socket");
    // The container's user namespace as the kernel has it (its own, a joined one or the
    // runtime's); a pid taken since by another process fails the check below.
    const bool maps_runtime_uid = mech::map_reaches(mech::uid_map_of_process(s.pid), ::geteuid());
    ProcessPlan planned = plan_process(process, &spec, s.id, maps_runtime_uid);
    // A terminal in the foreground: the runtime relays the pty itself, as runc does.
    std::unique_ptr<ForegroundTerminal> foreground;
    if (process.terminal && o.console_socket.empty()) foreground = std::make_unique<ForegroundTerminal>();
    kernel::Fd console;
    if (foreground) console = mech::connect_unix(foreground->socket_path(), "connect to the runtime's own pty socket");
    else if (!o.console_socket.empty()) console = mech::connect_unix(o.console_socket, "connect to console socket");

    kernel::Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, s.pid, 0)));
    if (!pidfd || !process_is(s.pid, s.pid_start)) throw Error::usage("cannot exec in a stopped container");
    run::JoinPlan plan;
    plan.init_pid = s.pid;
    plan.init_pidfd = pidfd.get();
    if (cg)
        for (const auto& p : cg->paths()) plan.cgroup_procs.push_back(p + "/cgroup.procs");
    plan.initial_cpus = planned.initial_cpus;
    plan.process = std::move(planned.process);
    plan.process.preserve_fds = o.preserve_fds;
    refuse_ways_out(process.terminal, o.preserve_fds);
    // runc's: the process's own score, or the container's.
    plan.oom_score_adj = process.oom_score_adj;
    if (!plan.oom_score_adj && spec.process) plan.oom_score_adj = spec.process->oom_score_adj;
    plan.console_socket = console ? console.get() : -1;
    // Supervised calls of this process too go to the container's monitor: one budget.
    kernel::Fd monitor;
    if (planned.monitor && planned.monitor->decides_calls()) {
        monitor = mech::connect_unix(dir.path() + "/" + kMonitorSocket, "connect to caisson's container monitor");
        plan.process.monitor_fd = monitor.get();
    }

    sigset_t block, old;
    ::sigemptyset(&block);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD}) ::sigaddset(&block, sig);
    ::sigprocmask(SIG_BLOCK, &block, &old);
    pid_t pid = run::join_container(plan, old);
    console.reset();
    monitor.reset();
    if (!o.pid_file.empty()) {
        std::string tmp = o.pid_file + ".caisson-tmp", text = std::to_string(pid);
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
            ::rename(tmp.c_str(), o.pid_file.c_str()) < 0)
            throw Error(ErrorKind::Setup, "write pid file", o.pid_file, errno);
        ::close(fd);
    }
    if (o.detach) return 0;
    int status = 0;
    if (foreground) {
        foreground->receive_master();
        status = foreground->relay(pid, block);
    } else {
        status = forward_until_exit(pid, block);
    }
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return exit_code(status);
}

}  // namespace caisson::oci
