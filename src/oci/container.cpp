#include "oci/container.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/cgroup.hpp"
#include "mech/cgroup_detect.hpp"
#include "mech/clone.hpp"
#include "mech/namespaces.hpp"
#include "mech/egress.hpp"
#include "mech/fds.hpp"
#include "mech/idmap.hpp"
#include "mech/loopback.hpp"
#include "mech/mount_list.hpp"
#include "mech/mounts.hpp"
#include "mech/sysctl.hpp"
#include "oci/hooks.hpp"
#include "oci/idmapped_mounts.hpp"
#include "oci/process_setup.hpp"
#include "oci/resources.hpp"
#include "oci/rootfs.hpp"
#include "oci/spec.hpp"
#include "oci/state.hpp"
#include "oci/terminal.hpp"
#include "oci/unix.hpp"
#include "run/channel.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace caisson::oci {
namespace {

using run::Failure;
using run::Message;
using run::MsgType;

struct NsKind {
    const char* type;
    int flag;
    const char* proc;
};
constexpr NsKind kNamespaces[] = {
    {"user", CLONE_NEWUSER, "user"}, {"mount", CLONE_NEWNS, "mnt"},      {"pid", CLONE_NEWPID, "pid"},
    {"network", CLONE_NEWNET, "net"}, {"ipc", CLONE_NEWIPC, "ipc"},      {"uts", CLONE_NEWUTS, "uts"},
    {"cgroup", CLONE_NEWCGROUP, "cgroup"}, {"time", CLONE_NEWTIME, "time"},
};

int ns_flag(const std::string& type) {
    for (const auto& k : kNamespaces)
        if (type == k.type) return k.flag;
    return 0;
}

std::string read_all(const std::string& path, const char* what) {
    kernel::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw Error(ErrorKind::Usage, what, path, errno);
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    if (n < 0) throw Error(ErrorKind::Usage, what, path, errno);
    return out;
}

std::string absolute(const std::string& path) {
    char buf[PATH_MAX];
    if (!::realpath(path.c_str(), buf)) throw Error(ErrorKind::Usage, "resolve path", path, errno);
    return buf;
}

// Removes everything create made if it does not finish: the init (killed and reaped), the
// cgroup (its own RAII), the state directory.
class CreateGuard {
public:
    explicit CreateGuard(StateDir& dir) : dir_(dir) {}
    ~CreateGuard() {
        if (done_) return;
        if (pidfd_ >= 0) {
            kernel::pidfd_send_signal(pidfd_, SIGKILL);
            siginfo_t info{};
            while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED) < 0 && errno == EINTR) {
            }
            ::close(pidfd_);
        }
        try {
            dir_.remove();
        } catch (...) {
        }
        // The lifecycle goes on at delete (runtime-spec): its poststop hooks run, a failure a
        // warning (and nothing may escape a destructor).
        try {
            for (const auto& err : run_every_hook(poststop_, "poststop", stopped_state_))
                std::fprintf(stderr, "caisson-oci: warning: %s\n", err.c_str());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "caisson-oci: warning: poststop hooks: %s\n", e.what());
        }
    }
    void child(int pidfd) { pidfd_ = pidfd; }
    // Once the container exists (its init started), a failed create still runs these.
    void poststop(std::vector<Hook> hooks, std::string stopped_state) {
        poststop_ = std::move(hooks);
        stopped_state_ = std::move(stopped_state);
    }
    void dismiss() {
        done_ = true;
        if (pidfd_ >= 0) ::close(pidfd_);
    }

private:
    StateDir& dir_;
    int pidfd_ = -1;
    bool done_ = false;
    std::vector<Hook> poststop_;
    std::string stopped_state_;
};

struct InitArgs {
    const Spec* spec;
    mech::ListRootPlan rootfs;
    ProcessPlan process;
    int channel;
    int start_socket;
    int console_socket;
    bool cgroupns_after_join;
    bool userns;
    bool runtime_hooks;
    std::string state_json;  // for createContainer and startContainer hooks
};

[[noreturn]] void init_fail(int channel, const Failure& f) {
    Message m{};
    m.type = MsgType::Failed;
    m.failure = f;
    run::send_message(channel, m);
    ::_exit(1);
}

// The container's init, in its new namespaces. Allocation is safe here: it is a copy of a
// single-threaded runtime, not a vfork.
[[noreturn]] void container_init(InitArgs& a) {
    Failure f;
    const Spec& s = *a.spec;
    Message go{};
    if (run::recv_message(a.channel, go) <= 0 || go.type != MsgType::Go) ::_exit(1);
    {
        // createContainer and startContainer run in the container's namespaces: their state
        // carries the pid as the container sees it (runtime-spec), the init's own.
        auto j = nlohmann::json::parse(a.state_json);
        j["pid"] = ::getpid();
        a.state_json = j.dump();
    }
    if (a.cgroupns_after_join && ::unshare(CLONE_NEWCGROUP) < 0) init_fail(a.channel, (f.set("unshare", "cgroup namespace"), f));
    if (a.userns) {
        // Root inside for the setup, where the maps have a root; the process's own ids come last.
        (void)!::setresgid(0, 0, 0);
        (void)!::setresuid(0, 0, 0);
    }
    // A session of its own: no controlling terminal of the caller's (CVE-2017-5226).
    if (::setsid() < 0) init_fail(a.channel, (f.set("setsid", "container init"), f));
    if (a.runtime_hooks) {
        Message m{};
        m.type = MsgType::Hooks;
        if (!run::send_message(a.channel, m) || run::recv_message(a.channel, go) <= 0 || go.type != MsgType::Go) ::_exit(1);
    }
    if (!mech::write_sysctls({s.linux_.sysctl.begin(), s.linux_.sysctl.end()}, f)) init_fail(a.channel, f);
    std::string hook_error;
    auto before_pivot = [&] {
        hook_error = run_hooks(s.hooks.create_container, "createContainer", a.state_json);
        return hook_error.empty();
    };
    if (!mech::build_list_root(a.rootfs, before_pivot, f)) init_fail(a.channel, f);
    if (!hook_error.empty()) init_fail(a.channel, (f.set("hook", hook_error.c_str(), EINVAL), f));
    if (s.has_hostname && !s.hostname.empty() && ::sethostname(s.hostname.data(), s.hostname.size()) < 0)
        init_fail(a.channel, (f.set("sethostname", s.hostname.c_str()), f));
    if (!s.domainname.empty() && ::setdomainname(s.domainname.data(), s.domainname.size()) < 0)
        init_fail(a.channel, (f.set("setdomainname", s.domainname.c_str()), f));
    // The terminal (and /dev/console over it) before the root may turn read-only.
    if (a.process.process->terminal && !setup_terminal(a.console_socket, *a.process.process, true, f)) init_fail(a.channel, f);
    if (a.console_socket >= 0) ::close(a.console_socket);
    if (!mech::finish_list_root(a.rootfs, f)) init_fail(a.channel, f);
    // A new network namespace's loopback is up, as crun and runc leave it.
    if (a.rootfs.new_netns && !mech::bring_up_loopback(f)) init_fail(a.channel, f);
    // A missing process.cwd is made (inside the root, as runc does), then entered later.
    if (!a.process.process->cwd.empty()) {
        kernel::Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root) init_fail(a.channel, (f.set("open root", "/"), f));
        kernel::Fd cwd(mech::open_or_create(root.get(), a.process.process->cwd.c_str(), true, f));
        if (!cwd) init_fail(a.channel, (f.set("create process.cwd", a.process.process->cwd.c_str(), f.err), f));
    }
    if (!resolve_executable(a.process, f)) init_fail(a.channel, f);
    int listener = -1;
    if (!prepare_identity_and_filter(a.process, &listener, f)) init_fail(a.channel, f);

    Message ready{};
    ready.type = MsgType::Ready;
    if (!run::send_message(a.channel, ready, listener >= 0 ? &listener : nullptr, listener >= 0 ? 1 : 0)) ::_exit(1);
    if (listener >= 0) ::close(listener);
    ::close(a.channel);

    // Waits for `start`, which connects, and hears "0" once the startContainer hooks passed.
    int conn;
    do conn = ::accept4(a.start_socket, nullptr, nullptr, SOCK_CLOEXEC);
    while (conn < 0 && errno == EINTR);
    if (conn < 0) ::_exit(1);
    ::close(a.start_socket);
    std::string started = a.state_json;
    if (auto p = started.find("\"creating\""); p != std::string::npos) started.replace(p, 10, "\"created\"");
    std::string err = run_hooks(s.hooks.start_container, "startContainer", started);
    std::string reply = err.empty() ? "0" : err;
    (void)!::write(conn, reply.data(), reply.size());
    ::close(conn);
    if (!err.empty()) ::_exit(1);
    finish_and_exec(a.process, f);
    std::string msg = std::string("caisson-oci: ") + f.object + ": " + std::strerror(f.err) + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(f.err == ENOENT ? 127 : 126);
}

int init_entry(void* arg) { container_init(*static_cast<InitArgs*>(arg)); }

// The caller's user name, from /etc/passwd itself: getpwuid would need NSS modules that a
// static executable cannot load.
std::string owner_name() {
    std::ifstream in("/etc/passwd");
    std::string line, uid = std::to_string(::geteuid());
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string name, pw, id;
        if (std::getline(fields, name, ':') && std::getline(fields, pw, ':') && std::getline(fields, id, ':') && id == uid)
            return name;
    }
    return uid;
}

void write_pid_file(const std::string& path, pid_t pid) {
    std::string tmp = path + ".caisson-tmp", text = std::to_string(pid);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(ErrorKind::Setup, "write pid file", tmp, errno);
    ssize_t n = ::write(fd, text.data(), text.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size())) throw Error(ErrorKind::Setup, "write pid file", tmp, EIO);
    if (::rename(tmp.c_str(), path.c_str()) < 0) throw Error(ErrorKind::Setup, "write pid file", path, errno);
}

}  // namespace

unsigned activation_fds() {
    const char* fds = std::getenv("LISTEN_FDS");
    const char* pid = std::getenv("LISTEN_PID");
    if (!fds || !pid || std::to_string(::getpid()) != pid) return 0;
    char* end = nullptr;
    unsigned long n = std::strtoul(fds, &end, 10);
    return end && *end == '\0' && n < 4096 ? static_cast<unsigned>(n) : 0;
}

pid_t create_container(const CreateOptions& o) {
    StateDir dir(o.root, o.id);
    std::string bundle = absolute(o.bundle.empty() ? "." : o.bundle);
    std::string config_text = read_all(bundle + "/config.json", "open bundle config");
    nlohmann::json config = parse_json(config_text, bundle + "/config.json");
    Spec spec = parse_spec_json(config);
    validate(spec);
    const Linux& l = spec.linux_;
    std::string rootfs = absolute(spec.root_path[0] == '/' ? spec.root_path : bundle + "/" + spec.root_path);
    struct stat st{};
    if (::stat(rootfs.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) throw Error(ErrorKind::Usage, "root.path", rootfs, ENOTDIR);

    // Namespaces: new ones by clone, existing ones (a path) joined by this process first.
    uint64_t clone_flags = 0;
    std::vector<std::pair<int, std::string>> joins;
    bool userns = false, new_netns = false, new_cgroupns = false, new_timens = false, has_mount = false;
    for (const auto& n : l.namespaces) {
        int flag = ns_flag(n.type);
        if (n.type == "mount") has_mount = true;
        if (!n.path.empty()) {
            if (n.type == "user" || n.type == "mount")
                throw Error::usage("config.json: linux.namespaces: joining a " + n.type + " namespace by path is not supported by caisson-oci");
            joins.emplace_back(flag, n.path);
            continue;
        }
        if (n.type == "user") userns = true;
        if (n.type == "network") new_netns = true;
        if (n.type == "cgroup") new_cgroupns = true;
        if (n.type == "time") new_timens = true;
        if (n.type != "cgroup" && n.type != "time") clone_flags |= static_cast<uint64_t>(flag);
    }
    if (!has_mount) throw Error::usage("config.json: linux.namespaces: caisson-oci needs a mount namespace for the container's root");
    if (spec.process->terminal && o.console_socket.empty())
        throw Error::usage("cannot allocate tty if caisson-oci will detach without setting console socket");
    if (!spec.process->terminal && !o.console_socket.empty())
        throw Error::usage("cannot use console socket if caisson-oci will not allocate tty");

    if (o.listen_fds) {
        spec.process->env.push_back("LISTEN_FDS=" + std::to_string(o.listen_fds));
        spec.process->env.push_back("LISTEN_PID=1");
    }
    ProcessPlan process = plan_process(*spec.process, &spec);
    process.preserve_fds = o.listen_fds + o.preserve_fds;

    dir.create();
    CreateGuard guard(dir);

    // The cgroup: every hierarchy, as runc; without root and without limits, none.
    mech::CgroupLayout layout = mech::detect_cgroups();
    std::unique_ptr<mech::SandboxCgroup> cgroup;
    cgroup_plan::Plan device_plan;
    auto [cg_parent, cg_name] = cgroup_location(l.cgroups_path, o.id);
    bool want_cgroup = ::geteuid() == 0 || (l.resources && !l.cgroups_path.empty());
    if (want_cgroup) {
        Resources r = l.resources.value_or(Resources{});
        // runc's rule: the devices every container gets stay usable whatever the list says.
        if (!r.devices.empty())
            for (const auto& d : cgroup_plan::default_devices())
                r.devices.push_back({true, std::string(1, d.type), d.major, d.minor < 0 ? std::nullopt : std::optional<int64_t>(d.minor), d.access});
        device_plan = plan_resources(r, layout.where());
        // The device rules wait until the init has made linux.devices' nodes (mknod is
        // checked against them): they apply when it reports ready, before the start.
        cgroup = mech::SandboxCgroup::create(layout, device_plan, cg_parent, l.cgroups_path.empty(), cg_name, true);
    } else if (l.resources) {
        throw Error::usage("config.json: linux.resources: an ordinary user needs a delegated linux.cgroupsPath");
    }

    // The egress filter an annotation asked for, in the cgroup before any process is: it
    // stays attached as long as the cgroup directory does.
    std::optional<mech::EgressFilter> egress;
    if (process.egress.enabled()) {
        if (!cgroup || cgroup->v2_fd() < 0)
            throw Error::usage("annotations org.caisson.allow-connect/deny-private: the egress filter needs a cgroup v2 "
                               "directory for the container (caisson-oci as root, a cgroup2 hierarchy mounted)");
        egress.emplace(cgroup->v2_fd(), process.egress);
    }
    kernel::Fd start_socket = listen_unix(dir.path() + "/" + kStartSocket, "listen on start socket");
    kernel::Fd console;
    if (!o.console_socket.empty()) console = connect_unix(o.console_socket, "connect to console socket");
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) throw Error(ErrorKind::Setup, "socketpair", "setup channel", errno);
    kernel::Fd parent_end(sv[0]), child_end(sv[1]);

    ContainerState state;
    state.id = o.id;
    state.bundle = bundle;
    state.rootfs = rootfs;
    state.created = rfc3339_now();
    state.owner = owner_name();
    state.annotations = spec.annotations;
    state.cgroup_parent = cg_parent;
    state.cgroup_name = cg_name;
    state.cgroup_shared_parent = l.cgroups_path.empty();
    state.config = config;

    // Joined namespaces and a new time namespace belong to this process's children from here.
    for (const auto& [flag, path] : joins) {
        kernel::Fd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!ns) throw Error(ErrorKind::Usage, "open namespace", path, errno);
        if (::setns(ns.get(), flag) < 0) throw Error(ErrorKind::Setup, "setns", path, errno);
    }
    if (new_timens) {
        if (::unshare(CLONE_NEWTIME) < 0) throw Error(ErrorKind::Setup, "unshare", "time namespace", errno);
        std::string offsets;
        for (const auto& [clock, off] : l.time_offsets)
            offsets += clock + " " + std::to_string(off.first) + " " + std::to_string(off.second) + "\n";
        if (!offsets.empty()) mech::write_proc_file(::getpid(), "timens_offsets", offsets);
    }

    // Before the init exists: it would have no rights over the sources from its user namespace.
    std::map<size_t, kernel::Fd> idmapped = prepare_idmapped_mounts(spec, bundle);
    InitArgs args{&spec, {}, std::move(process), child_end.get(), start_socket.get(), console ? console.get() : -1,
                  new_cgroupns, userns, !spec.hooks.prestart.empty() || !spec.hooks.create_runtime.empty(), {}};
    args.rootfs = plan_rootfs(spec, {rootfs, bundle, userns, new_netns, o.no_pivot, &idmapped});
    if (cgroup) {
        for (const auto& path : cgroup->paths()) {
            std::string mount = path.substr(0, path.size() - cg_name.size() - 1 - (cg_parent.empty() ? 0 : cg_parent.size() + 1));
            std::string name = mount == layout.v2 ? std::string() : mount.substr(mount.rfind('/') + 1);
            args.rootfs.cgroup_dirs.emplace_back(name, path);
        }
    }
    nlohmann::json creating = state_json(state, Status::Creating);
    args.state_json = creating.dump();

    // What the init keeps of this process's descriptors; the process keeps only the sockets.
    std::vector<int> init_fds{child_end.get(), start_socket.get()};
    if (console) init_fds.push_back(console.get());
    for (const auto& [index, fd] : idmapped) init_fds.push_back(fd.get());
    for (unsigned fd = 3; fd < 3 + o.listen_fds + o.preserve_fds; ++fd) init_fds.push_back(static_cast<int>(fd));
    std::sort(init_fds.begin(), init_fds.end());
    args.process.runtime_fds[0] = child_end.get();
    args.process.runtime_fds[1] = start_socket.get();

    mech::CloneRequest request;
    request.flags = clone_flags;
    if (cgroup && cgroup->v2_fd() >= 0) request.cgroup_fd = cgroup->v2_fd();
    mech::Cloned cloned;
    // The child's copy of `cloned` says whether it makes its cgroup namespace itself.
    if (!mech::clone_process(request, cloned)) {
        int err = errno;
        throw Error(ErrorKind::Setup, "clone3", mech::explain_namespace_refusal(err, request.flags, ::geteuid() == 0), err);
    }
    const long pid = cloned.pid;
    const int pidfd = cloned.pidfd;
    if (cloned.cgroupns_after_join) args.cgroupns_after_join = true;
    if (pid == 0) {
        // Only what the init needs stays open; the cgroup directory, the state directory's
        // lock, the runtime's log, and whatever its caller left open are closed before the
        // init resolves any path in the container (CVE-2024-21626).
        Failure f;
        if (!mech::close_fds_except(init_fds, {}, f)) init_fail(child_end.get(), f);
        // Until it execs the container's program the init is this binary: non-dumpable, its
        // /proc/1/exe and memory are closed to the container's processes (CVE-2019-5736).
        if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) ::_exit(1);
        init_entry(&args);
    }
    guard.child(pidfd);
    guard.poststop(spec.hooks.poststop, state_json(state, Status::Stopped).dump());
    child_end.reset();
    start_socket.reset();
    console.reset();

    if (userns) {
        mech::write_id_maps(static_cast<pid_t>(pid), map_lines(l.uid_mappings), map_lines(l.gid_mappings), false);
    }
    if (cgroup) cgroup->join_v1(static_cast<pid_t>(pid), cgroup->v2_fd() >= 0 && !cloned.into_cgroup);
    if (spec.process->oom_score_adj)
        mech::write_proc_file(static_cast<pid_t>(pid), "oom_score_adj", std::to_string(*spec.process->oom_score_adj));
    state.pid = static_cast<pid_t>(pid);
    state.pid_start = process_start_time(state.pid);
    creating["pid"] = state.pid;
    Message go{};
    go.type = MsgType::Go;
    go.wait_status = state.pid;
    if (!run::send_message(parent_end.get(), go)) throw Error(ErrorKind::Setup, "start container init", "setup channel", errno);

    for (;;) {
        Message m{};
        int fds[1] = {-1};
        size_t nfds = 1;
        int rc = run::recv_message(parent_end.get(), m, fds, &nfds);
        if (rc <= 0) throw Error(ErrorKind::Setup, "container init", "exited during setup", rc < 0 ? errno : ECHILD);
        if (m.type == MsgType::Failed) {
            const Failure& f = m.failure;
            if (f.kind == ErrorKind::Exec) throw Error(ErrorKind::Exec, f.object, "", f.err == ENOENT ? 0 : f.err);
            throw Error(f.kind, f.step, f.object, f.err);
        }
        if (m.type == MsgType::Hooks) {
            std::string err = run_hooks(spec.hooks.prestart, "prestart", creating.dump());
            if (err.empty()) err = run_hooks(spec.hooks.create_runtime, "createRuntime", creating.dump());
            if (!err.empty()) throw Error::usage(err);
            if (!run::send_message(parent_end.get(), go)) throw Error(ErrorKind::Setup, "resume container init", "setup channel", errno);
            continue;
        }
        if (m.type == MsgType::Ready) {
            kernel::Fd listener(nfds ? fds[0] : -1);
            if (cgroup) cgroup->apply_devices(device_plan);
            if (listener) {
                kernel::Fd agent = connect_unix(spec.linux_.seccomp->listener_path, "connect to seccomp agent");
                nlohmann::json msg = {{"ociVersion", kSpecVersion}, {"fds", {"seccompFd"}}, {"pid", state.pid},
                                      {"metadata", spec.linux_.seccomp->listener_metadata}, {"state", state_json(state, Status::Creating)}};
                Failure f;
                if (!send_listener(agent.get(), listener.get(), msg.dump(), f)) throw Error(f.kind, f.step, f.object, f.err);
            }
            break;
        }
    }
    dir.save(state);
    if (!o.pid_file.empty()) write_pid_file(o.pid_file, state.pid);
    if (cgroup) cgroup->release();
    guard.dismiss();
    return state.pid;
}

void start_container(const std::string& root, const std::string& id) {
    StateDir dir(root, id);
    dir.lock();
    ContainerState s = dir.load();
    Status st = dir.status(s, false);
    if (st == Status::Stopped) throw Error::usage("cannot start a container that has stopped");
    if (st != Status::Created) throw Error::usage("cannot start an already running container");
    kernel::Fd conn = connect_unix(dir.path() + "/" + kStartSocket, "connect to container init");
    std::string reply;
    char buf[512];
    ssize_t n;
    while ((n = ::read(conn.get(), buf, sizeof(buf))) > 0) reply.append(buf, static_cast<size_t>(n));
    ::unlink((dir.path() + "/" + kStartSocket).c_str());
    if (reply != "0") throw Error::usage(reply.empty() ? "container init exited before start" : reply);
    Spec spec = parse_spec_json(s.config);
    // The spec (1.2, which this runtime declares): a failing poststart hook is logged, the rest
    // still run, and the container keeps running.
    for (const auto& err : run_every_hook(spec.hooks.poststart, "poststart", state_json(s, Status::Running).dump()))
        std::fprintf(stderr, "caisson-oci: warning: %s\n", err.c_str());
}

}  // namespace caisson::oci
