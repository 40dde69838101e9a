#include "run/container.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/clone.hpp"
#include "mech/console.hpp"
#include "mech/fds.hpp"
#include "mech/idmap.hpp"
#include "mech/keyring.hpp"
#include "mech/loopback.hpp"
#include "mech/mounts.hpp"
#include "mech/namespaces.hpp"
#include "mech/sysctl.hpp"
#include "mech/unix_socket.hpp"
#include "run/channel.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string_view>

namespace caisson::run {
namespace {

// The init that waits at the start barrier and then becomes the program, in its new
// namespaces, every step in order. Allocation is safe here: it is a copy of a
// single-threaded runtime, not a vfork.
[[noreturn]] void barrier_init(ContainerPlan& plan, const ContainerHooks& hooks, int channel) {
    Failure f;
    auto fail = [&] { report_failure(channel, f, 1); };

    // 0. Until it execs the container's program the init is this binary: non-dumpable from
    // its first step, so its /proc/1/exe, descriptors and memory are closed to the
    // container's processes (CVE-2019-5736). An ordinary user's, once its maps are written
    // (step 2), or, with createRuntime hooks, once they have run (step 4).
    if (plan.runtime_is_root && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) ::_exit(1);
    std::vector<int> keep = plan.keep_fds;
    keep.push_back(channel);
    for (int fd : {plan.console_socket, plan.start_socket})
        if (fd >= 0) keep.push_back(fd);
    std::sort(keep.begin(), keep.end());
    // 1. Only what the init needs stays open: the runtime's cgroup and state directories, its
    // log, and whatever its caller left open are closed (not marked) before the init resolves
    // any path in the container (CVE-2024-21626).
    if (!mech::close_fds_except(keep, {}, f)) fail();

    // 2. Wait until the runtime has written the id maps and joined the cgroups.
    Message go{};
    if (recv_message(channel, go) <= 0 || go.type != MsgType::Go) ::_exit(1);
    // An ordinary user's init in a user namespace of its own stays dumpable for that user's
    // createRuntime hooks (they open its /proc/PID/ns files); nobody else may trace it (a
    // process in another namespace needs CAP_SYS_PTRACE in this one). Not dumpable after.
    const bool dumpable_for_hooks = !plan.runtime_is_root && plan.new_userns && hooks.runtime_created;
    if (!dumpable_for_hooks && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) f.set("prctl", "PR_SET_DUMPABLE"), fail();
    if (plan.new_cgroupns && ::unshare(CLONE_NEWCGROUP) < 0) f.set("unshare", "cgroup namespace"), fail();
    // 3. Root inside for the setup, where the maps have a root; the process's own ids come last.
    if (plan.new_userns || plan.joined_userns) {
        // Fail closed: without root inside, the init would build the root as the host's ids.
        if (kernel::set_res_gid(0, 0, 0) < 0) f.set("setresgid", "root in the container's user namespace"), fail();
        if (kernel::set_res_uid(0, 0, 0) < 0) f.set("setresuid", "root in the container's user namespace"), fail();
        // A change of ids sets dumpability back to fs.suid_dumpable: not dumpable, again.
        if (!dumpable_for_hooks && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) f.set("prctl", "PR_SET_DUMPABLE"), fail();
    }
    // A session of its own: no controlling terminal of the caller's (CVE-2017-5226).
    if (::setsid() < 0) f.set("setsid", "container init"), fail();
    // A session keyring of its own, made as the container's root: not the caller's.
    if (!plan.session_keyring.empty() && !mech::join_session_keyring(plan.session_keyring.c_str(), f)) fail();
    // 4. The runtime's hooks, in these namespaces and before the root.
    if (hooks.runtime_created) {
        Message m{};
        m.type = MsgType::Hooks;
        if (!send_message(channel, m) || recv_message(channel, go) <= 0 || go.type != MsgType::Go) ::_exit(1);
    }
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) f.set("prctl", "PR_SET_DUMPABLE"), fail();
    // 5. Kernel parameters, through the host's /proc/sys of these namespaces.
    if (!mech::write_sysctls(plan.sysctls, f)) fail();
    // 6. The root, with the face's hook between the mounts and pivot_root.
    std::string hook_error;
    auto before_pivot = [&] {
        if (hooks.init_created) hook_error = hooks.init_created();
        return hook_error.empty();
    };
    if (!mech::build_list_root(plan.root, before_pivot, f)) fail();
    if (!hook_error.empty()) f.set("hook", hook_error.c_str(), EINVAL), fail();
    // 7. Names.
    if (plan.hostname && ::sethostname(plan.hostname->data(), plan.hostname->size()) < 0)
        f.set("sethostname", plan.hostname->c_str()), fail();
    if (plan.domainname && ::setdomainname(plan.domainname->data(), plan.domainname->size()) < 0)
        f.set("setdomainname", plan.domainname->c_str()), fail();
    // 8. The terminal (and /dev/console over it) before the root may turn read-only.
    ContainerProcess& p = plan.process;
    if (p.console) {
        mech::ConsoleSpec console = *p.console;
        console.bind_dev_console = true;
        if (!mech::open_console(plan.console_socket, console, f)) fail();
    }
    if (plan.console_socket >= 0) ::close(plan.console_socket);
    if (!mech::finish_list_root(plan.root, f)) fail();
    // 9. A new network namespace's loopback is up, as crun and runc leave it.
    if (plan.bring_up_loopback && !mech::bring_up_loopback(f)) fail();
    // 10. A missing working directory is made (inside the root, as runc does); it is
    // entered among the last steps.
    if (!p.create_cwd.empty()) {
        kernel::Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root) f.set("open root", "/"), fail();
        kernel::Fd cwd(mech::open_or_create(root.get(), p.create_cwd.c_str(), true, f));
        if (!cwd) f.set("create process.cwd", p.create_cwd.c_str(), f.err), fail();
    }
    // 11. The program, found in the root; every last step but exec.
    if (!resolve_executable(p, f)) fail();
    p.runtime_fds[0] = channel;
    p.runtime_fds[1] = plan.start_socket;
    int listener = -1;
    if (!prepare_process(p, &listener, f)) fail();

    // 12. Ready: the runtime has the listener, and the init waits at the barrier.
    Message ready{};
    ready.type = MsgType::Ready;
    if (!send_message(channel, ready, listener >= 0 ? &listener : nullptr, listener >= 0 ? 1 : 0)) ::_exit(1);
    if (listener >= 0) ::close(listener);
    ::close(channel);
    int conn;
    do conn = ::accept4(plan.start_socket, nullptr, nullptr, SOCK_CLOEXEC);
    while (conn < 0 && errno == EINTR);
    if (conn < 0) ::_exit(1);
    ::close(plan.start_socket);
    // 13. The face's last hook, then the answer `start` waits for: "0", or why not.
    std::string err = hooks.init_starting ? hooks.init_starting() : std::string();
    std::string reply = err.empty() ? "0" : err;
    (void)!::write(conn, reply.data(), reply.size());
    ::close(conn);
    if (!err.empty()) ::_exit(1);
    // 14. caisson's own protections, then exec in the init's place.
    exec_process(p, f);
    std::string msg = std::string("caisson: ") + f.object + ": " + std::strerror(f.err) + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(f.err == ENOENT ? 127 : 126);
}

}  // namespace

namespace {

// A namespace to join: opened (and checked) by the runtime, before any helper exists.
struct Join {
    int flag;
    std::string path;
    kernel::Fd fd;
};

// The namespaces to join, opened in the runtime, the user namespace last: joined first, it
// would leave the helper without the rights to join those the host's user namespace owns;
// joined last, the container's new namespaces (made by clone) are owned by it, as they must be.
std::vector<Join> open_joins(const std::vector<std::pair<int, std::string>>& paths, bool user_first) {
    std::vector<Join> joins;
    for (const auto& [flag, path] : paths) {
        kernel::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw Error(ErrorKind::Usage, "open namespace", path, errno);
        joins.push_back({flag, path, std::move(fd)});
    }
    // Root joins the user namespace last: the others may belong to its own, where it has the
    // capabilities setns needs and would lose them inside. An ordinary user has them only in
    // a user namespace of its own, so joins it first, and the others that belong to it after.
    std::stable_partition(joins.begin(), joins.end(), [&](const Join& j) { return (j.flag == CLONE_NEWUSER) == user_first; });
    return joins;
}

// A helper of the runtime (a fork) joins the namespaces given by path and makes the time
// namespace, then clones the init with CLONE_PARENT: the init is the runtime's child, in
// those namespaces, and the runtime itself never enters them. Reports the init's pid and
// pidfd (or the step that failed) on the init's own channel end, before the init reads it.
[[noreturn]] void clone_helper(ContainerPlan& plan, const ContainerHooks& hooks, const mech::CloneRequest& request,
                               const std::vector<Join>& joins, int channel) {
    Failure f;
    auto fail = [&] { report_failure(channel, f, 1); };
    // Not dumpable, and holding nothing of the runtime's, before it is in any namespace of
    // the container's: a process there could otherwise trace it (it is host root) or use
    // its descriptors. The init it clones inherits both. (An ordinary user's: below, before
    // it joins a namespace; its own processes could trace it anyway.)
    if (plan.runtime_is_root && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) f.set("prctl", "PR_SET_DUMPABLE"), fail();
    // An ordinary user's runtime cannot write the /proc/PID files of an init that is not
    // dumpable (a joined user namespace makes it so below, before the clone): the helper sets
    // its own score, which the init inherits.
    if (!plan.runtime_is_root && plan.oom_score_adj) {
        const std::string score = std::to_string(*plan.oom_score_adj);
        kernel::Fd adj(::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
        if (!adj) f.set("open", "/proc/self/oom_score_adj (process.oomScoreAdj)"), fail();
        const ssize_t n = ::write(adj.get(), score.data(), score.size());
        if (n != static_cast<ssize_t>(score.size()))
            f.set("write", "/proc/self/oom_score_adj (process.oomScoreAdj)", n < 0 ? errno : EIO), fail();
    }
    // The offsets file of this process, opened before a joined mount namespace changes /proc.
    kernel::Fd offsets;
    if (plan.new_timens && !plan.timens_offsets.empty()) {
        offsets.reset(::open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC));
        if (!offsets) f.set("open", "/proc/self/timens_offsets"), fail();
    }
    std::vector<int> keep = plan.keep_fds;
    for (int fd : {channel, request.cgroup_fd, plan.console_socket, plan.start_socket, offsets.get()})
        if (fd >= 0) keep.push_back(fd);
    for (const auto& j : joins) keep.push_back(j.fd.get());
    std::sort(keep.begin(), keep.end());
    if (!mech::close_fds_except(keep, {}, f)) fail();
    // An ordinary user's helper joining a user namespace of that user's: not dumpable before
    // it is in it (the joined namespace's root holds CAP_SYS_PTRACE there, and this process
    // still has the host's root directory), after the two /proc/self files above.
    if (!plan.runtime_is_root && plan.joined_userns && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        f.set("prctl", "PR_SET_DUMPABLE"), fail();
    // No supplementary group of the host's root goes into a user namespace it joins.
    if (plan.joined_userns && ::geteuid() == 0 && kernel::set_groups(0, nullptr) < 0) f.set("setgroups", "container init"), fail();
    for (const auto& j : joins) {
        if (::setns(j.fd.get(), j.flag) < 0) f.set("setns", j.path.c_str()), fail();
        // Root of the joined user namespace, at once: the host's uid 0 is no id to build the
        // container as (it owns the host's files).
        if (j.flag == CLONE_NEWUSER && (kernel::set_res_gid(0, 0, 0) < 0 || kernel::set_res_uid(0, 0, 0) < 0))
            f.set("become root in the joined user namespace", j.path.c_str()), fail();
        // The change of ids set dumpability back to fs.suid_dumpable: not dumpable, again.
        if (j.flag == CLONE_NEWUSER && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) f.set("prctl", "PR_SET_DUMPABLE"), fail();
    }
    if (plan.new_timens) {
        if (::unshare(CLONE_NEWTIME) < 0) f.set("unshare", "time namespace"), fail();
        // Written before any process is in the namespace: the init is the first.
        if (offsets && ::write(offsets.get(), plan.timens_offsets.data(), plan.timens_offsets.size()) !=
                           static_cast<ssize_t>(plan.timens_offsets.size()))
            f.set("write", "/proc/self/timens_offsets"), fail();
    }
    mech::CloneRequest parented = request;
    parented.flags |= CLONE_PARENT;
    // As the joined user namespace's root the helper may not move a process into the host's
    // cgroup directories: the runtime joins the init to them before it goes on.
    if (plan.joined_userns) parented.cgroup_fd = -1;
    parented.exit_signal = 0;  // CLONE_PARENT takes this helper's own (SIGCHLD)
    mech::Cloned cloned;
    if (!mech::clone_process(parented, cloned)) f.set("clone3", "container init"), fail();
    if (cloned.pid == 0) {
        for (const auto& j : joins) ::close(j.fd.get());
        if (offsets) ::close(offsets.get());
        if (cloned.cgroupns_after_join) plan.new_cgroupns = true;
        barrier_init(plan, hooks, channel);
    }
    Message m{};
    m.type = MsgType::Started;
    m.wait_status = static_cast<int>(cloned.pid);
    m.into_cgroup = cloned.into_cgroup;
    if (!send_message(channel, m, &cloned.pidfd, 1)) {
        ::kill(static_cast<pid_t>(cloned.pid), SIGKILL);
        ::_exit(1);
    }
    ::_exit(0);
}

}  // namespace

pid_t spawn_container(ContainerPlan& plan, const ContainerHooks& hooks, const std::function<void(pid_t, bool)>& join_cgroups) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) throw Error(ErrorKind::Setup, "socketpair", "setup channel", errno);
    kernel::Fd parent_end(sv[0]), child_end(sv[1]);

    mech::CloneRequest request;
    request.flags = plan.clone_flags;
    request.cgroup_fd = plan.cgroup_fd;
    auto refused = [&](int err) {
        return Error(ErrorKind::Setup, "clone3", mech::explain_namespace_refusal(err, request.flags, ::geteuid() == 0), err);
    };
    mech::Cloned cloned;
    if (plan.join_namespaces.empty() && !plan.new_timens) {
        if (!mech::clone_process(request, cloned)) throw refused(errno);
        if (cloned.pid == 0) {
            ::close(parent_end.release());
            if (cloned.cgroupns_after_join) plan.new_cgroupns = true;
            barrier_init(plan, hooks, child_end.get());
        }
    } else {
        std::vector<Join> joins = open_joins(plan.join_namespaces, !plan.runtime_is_root);
        pid_t helper = ::fork();
        if (helper < 0) throw Error(ErrorKind::Setup, "fork", "clone helper", errno);
        if (helper == 0) {
            ::close(parent_end.release());
            clone_helper(plan, hooks, request, joins, child_end.get());
        }
        int status = 0;
        while (::waitpid(helper, &status, 0) < 0 && errno == EINTR) {
        }
        Message m{};
        int fds[1] = {-1};
        size_t nfds = 1;
        if (recv_message(parent_end.get(), m, fds, &nfds) <= 0) throw Error(ErrorKind::Setup, "clone helper", "exited", ECHILD);
        if (m.type == MsgType::Failed) {
            if (std::string_view(m.failure.step, ::strnlen(m.failure.step, sizeof(m.failure.step))) == "clone3")
                throw refused(m.failure.err);
            throw_failure(m.failure);
        }
        // The init is this process's child (CLONE_PARENT); its pidfd came from the clone.
        cloned.pid = m.wait_status;
        cloned.into_cgroup = m.into_cgroup;
        cloned.pidfd = nfds ? fds[0] : -1;
        if (cloned.pidfd < 0) {
            ::kill(m.wait_status, SIGKILL);
            ::waitpid(m.wait_status, nullptr, 0);
            throw Error(ErrorKind::Setup, "clone helper", "no pidfd for the container init", EPROTO);
        }
    }
    const pid_t pid = static_cast<pid_t>(cloned.pid);
    if (hooks.cloned) hooks.cloned(pid, cloned.pidfd);
    child_end.reset();

    // An ordinary user's runtime may write a gid map only once setgroups is denied in the new
    // namespace (the kernel's rule for a writer without CAP_SETGID over it, as for runc's
    // rootless containers): its processes keep the groups they were made with.
    if (plan.new_userns) mech::write_id_maps(pid, plan.uid_map, plan.gid_map, !plan.runtime_is_root);
    if (join_cgroups) join_cgroups(pid, !cloned.into_cgroup);
    if (plan.oom_score_adj && (plan.runtime_is_root || plan.join_namespaces.empty()))
        mech::write_proc_file(pid, "oom_score_adj", std::to_string(*plan.oom_score_adj));
    Message go{};
    go.type = MsgType::Go;
    if (!send_message(parent_end.get(), go)) throw Error(ErrorKind::Setup, "start container init", "setup channel", errno);

    for (;;) {
        Message m{};
        int fds[1] = {-1};
        size_t nfds = 1;
        int rc = recv_message(parent_end.get(), m, fds, &nfds);
        if (rc <= 0) throw Error(ErrorKind::Setup, "container init", "exited during setup", rc < 0 ? errno : ECHILD);
        if (m.type == MsgType::Failed) throw_failure(m.failure);
        if (m.type == MsgType::Hooks) {
            std::string err = hooks.runtime_created ? hooks.runtime_created() : std::string();
            if (!err.empty()) throw Error::usage(err);
            if (!send_message(parent_end.get(), go)) throw Error(ErrorKind::Setup, "resume container init", "setup channel", errno);
            continue;
        }
        if (m.type == MsgType::Ready) {
            kernel::Fd listener(nfds ? fds[0] : -1);
            if (hooks.ready) hooks.ready(std::move(listener));
            return pid;
        }
    }
}

std::string release_container(const std::string& start_socket_path) {
    kernel::Fd conn = mech::connect_unix(start_socket_path, "connect to container init");
    std::string reply;
    char buf[512];
    ssize_t n;
    while ((n = ::read(conn.get(), buf, sizeof(buf))) > 0) reply.append(buf, static_cast<size_t>(n));
    ::unlink(start_socket_path.c_str());
    if (reply == "0") return {};
    return reply.empty() ? "container init exited before start" : reply;
}

}  // namespace caisson::run
