// `exec`: a helper joins the container's cgroup and namespaces (setns on the init's pidfd),
// then clones the process with CLONE_PARENT, so that it is this runtime's child (waitable)
// and inside the container's pid namespace. The runtime itself never enters the container.
#include "oci/commands.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/cgroup.hpp"
#include "mech/cgroup_detect.hpp"
#include "mech/clone.hpp"
#include "mech/fds.hpp"
#include "oci/foreground.hpp"
#include "oci/process_setup.hpp"
#include "oci/spec.hpp"
#include "oci/state.hpp"
#include "oci/terminal.hpp"
#include "oci/unix.hpp"
#include "oci/wait.hpp"
#include "run/channel.hpp"

#include <caisson/error.hpp>

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
#include <cerrno>
#include <memory>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

namespace caisson::oci {
namespace {

using run::Failure;
using run::Message;
using run::MsgType;

struct NsFile {
    const char* name;
    int flag;
};
// The user namespace first: joining it is what gives the rights over the others.
constexpr NsFile kNs[] = {{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID}, {"net", CLONE_NEWNET},
                          {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS}, {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME}};

int differing_namespaces(pid_t pid) {
    int flags = 0;
    for (const auto& n : kNs) {
        struct stat mine{}, theirs{};
        std::string self = std::string("/proc/self/ns/") + n.name;
        std::string other = "/proc/" + std::to_string(pid) + "/ns/" + n.name;
        if (n.flag == CLONE_NEWPID) other = "/proc/" + std::to_string(pid) + "/ns/pid";
        if (::stat(self.c_str(), &mine) < 0 || ::stat(other.c_str(), &theirs) < 0) continue;
        if (mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev) flags |= n.flag;
    }
    return flags;
}

[[noreturn]] void child_fail(int channel, const Failure& f) {
    Message m{};
    m.type = MsgType::Failed;
    m.failure = f;
    run::send_message(channel, m);
    ::_exit(f.err == ENOENT && f.kind == ErrorKind::Exec ? 127 : 126);
}

Process exec_process(const ExecOptions& o, const Spec& spec) {
    if (!o.process_file.empty()) {
        std::ifstream in(o.process_file);
        if (!in) throw Error(ErrorKind::Usage, "open --process", o.process_file, errno);
        std::stringstream ss;
        ss << in.rdbuf();
        return parse_process(parse_json(ss.str(), o.process_file));
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
        try {
            p.user.uid = static_cast<uint32_t>(std::stoul(o.user.substr(0, colon)));
            if (colon != std::string::npos) p.user.gid = static_cast<uint32_t>(std::stoul(o.user.substr(colon + 1)));
        } catch (...) {
            throw Error::usage("exec --user: expected UID[:GID], not " + o.user);
        }
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
    ProcessPlan plan = plan_process(process, &spec);
    plan.preserve_fds = o.preserve_fds;
    // A terminal in the foreground: the runtime relays the pty itself, as runc does.
    std::unique_ptr<ForegroundTerminal> foreground;
    if (process.terminal && o.console_socket.empty()) foreground = std::make_unique<ForegroundTerminal>();
    kernel::Fd console;
    if (foreground) console = connect_unix(foreground->socket_path(), "connect to the runtime's own pty socket");
    else if (!o.console_socket.empty()) console = connect_unix(o.console_socket, "connect to console socket");

    kernel::Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, s.pid, 0)));
    if (!pidfd || !process_is(s.pid, s.pid_start)) throw Error::usage("cannot exec in a stopped container");
    int ns_flags = differing_namespaces(s.pid);
    std::vector<std::string> procs_files;
    if (cg)
        for (const auto& p : cg->paths()) procs_files.push_back(p + "/cgroup.procs");

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) throw Error(ErrorKind::Setup, "socketpair", "exec channel", errno);
    kernel::Fd ours(sv[0]), theirs(sv[1]);
    sigset_t block, old;
    ::sigemptyset(&block);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD}) ::sigaddset(&block, sig);
    ::sigprocmask(SIG_BLOCK, &block, &old);

    pid_t helper = ::fork();
    if (helper < 0) throw Error(ErrorKind::Setup, "fork", "exec helper", errno);
    if (helper == 0) {
        Failure f;
        // Only what the helper needs stays open: the cgroup directory, the state directory,
        // the runtime's log and its caller's descriptors are closed before anything enters
        // the container (CVE-2024-21626).
        std::vector<int> keep{theirs.get(), pidfd.get()};
        if (console) keep.push_back(console.get());
        for (unsigned fd = 3; fd < 3 + o.preserve_fds; ++fd) keep.push_back(static_cast<int>(fd));
        std::sort(keep.begin(), keep.end());
        if (!mech::close_fds_except(keep, {}, f)) child_fail(theirs.get(), f);
        // Its child enters the container's pid namespace as this binary: non-dumpable until
        // it execs (CVE-2019-5736).
        if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) child_fail(theirs.get(), (f.set("prctl", "PR_SET_DUMPABLE"), f));
        // execCPUAffinity.initial: this helper's CPUs until it is in the container's cgroup
        // (the runtime's own stay as they are).
        if (!apply_initial_affinity(process, f)) child_fail(theirs.get(), f);
        // The cgroup first (its files are the host's), then the namespaces, all at once.
        for (const auto& file : procs_files) {
            kernel::Fd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
            if (!fd || ::write(fd.get(), "0", 1) != 1) child_fail(theirs.get(), (f.set("join cgroup", file.c_str()), f));
        }
        if (ns_flags && ::setns(pidfd.get(), ns_flags) < 0) child_fail(theirs.get(), (f.set("setns", "container namespaces"), f));
        mech::CloneRequest request;
        request.flags = CLONE_PARENT;
        request.exit_signal = 0;  // CLONE_PARENT takes ours (SIGCHLD)
        request.want_pidfd = false;
        mech::Cloned cloned;
        if (!mech::clone_process(request, cloned)) child_fail(theirs.get(), (f.set("clone3", "exec process"), f));
        const long pid = cloned.pid;
        if (pid > 0) {
            Message m{};
            m.type = MsgType::Started;
            m.wait_status = static_cast<int>(pid);
            run::send_message(theirs.get(), m);
            ::_exit(0);
        }
        // The process: a session of its own, the terminal, then as the container's init.
        ::close(pidfd.release());
        plan.runtime_fds[0] = theirs.get();
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        if (::setsid() < 0) child_fail(theirs.get(), (f.set("setsid", "exec process"), f));
        if (process.terminal && !setup_terminal(console.get(), process, false, f)) child_fail(theirs.get(), f);
        console.reset();
        if (!resolve_executable(plan, f)) child_fail(theirs.get(), f);
        int listener = -1;
        if (!prepare_identity_and_filter(plan, &listener, f)) child_fail(theirs.get(), f);
        finish_and_exec(plan, f);
        child_fail(theirs.get(), f);
    }
    theirs.reset();
    console.reset();
    int hs = 0;
    while (::waitpid(helper, &hs, 0) < 0 && errno == EINTR) {
    }
    Message m{};
    if (run::recv_message(ours.get(), m) <= 0) throw Error(ErrorKind::Setup, "exec helper", "exited", ECHILD);
    if (m.type == MsgType::Failed) {
        if (m.failure.kind == ErrorKind::Exec) throw Error(ErrorKind::Exec, m.failure.object, "", m.failure.err == ENOENT ? 0 : m.failure.err);
        throw Error(m.failure.kind, m.failure.step, m.failure.object, m.failure.err);
    }
    pid_t pid = m.wait_status;
    // End of stream: the process exec'd (the channel is close-on-exec). A message: it failed.
    Message result{};
    if (run::recv_message(ours.get(), result) > 0 && result.type == MsgType::Failed) {
        ::waitpid(pid, nullptr, 0);
        const Failure& f = result.failure;
        if (f.kind == ErrorKind::Exec) throw Error(ErrorKind::Exec, f.object, "", f.err == ENOENT ? 0 : f.err);
        throw Error(f.kind, f.step, f.object, f.err);
    }
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
