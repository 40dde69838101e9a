
#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/bpf_lsm.hpp"
#include "mech/cgroup.hpp"
#include "mech/cgroup_detect.hpp"
#include "mech/egress.hpp"
#include "mech/idmap.hpp"
#include "mech/ptracers.hpp"
#include "oci/hooks.hpp"
#include "oci/idmapped_mounts.hpp"
#include "oci/process_setup.hpp"
#include "oci/resources.hpp"
#include "oci/rootfs.hpp"
#include "oci/spec.hpp"
#include "oci/state.hpp"
#include "mech/unix_socket.hpp"
#include "run/container.hpp"
#include "run/container_monitor.hpp"
#include "run/egress_rules.hpp"

#include <caisson/error.hpp>
#include <caisson/oci.hpp>

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

// Whether two namespace files name one namespace. A path that cannot be read is left for the
// join to report.
bool same_namespace(const std::string& a, const std::string& b) {
    struct stat x{}, y{};
    return ::stat(a.c_str(), &x) == 0 && ::stat(b.c_str(), &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
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

// `what`: the field or flag the path came from, for the error.
std::string absolute(const std::string& path, const char* what) {
    char buf[PATH_MAX];
    if (!::realpath(path.c_str(), buf)) throw Error(ErrorKind::Usage, what, path, errno);
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
    std::string bundle = absolute(o.bundle.empty() ? "." : o.bundle, "--bundle");
    std::string config_text = read_all(bundle + "/config.json", "open bundle config");
    nlohmann::json config = parse_json(config_text, bundle + "/config.json");
    Spec spec = parse_spec_json(config);
    // A namespace joined by a path that is caisson-oci's own is shared, not the container's:
    // it is taken as not listed, so that the rules for a shared namespace hold (sysctls and
    // the host name are refused there, never written into the host's).
    std::erase_if(spec.linux_.namespaces, [](const Namespace& n) {
        if (n.path.empty() || n.type == "mount") return false;
        for (const auto& k : kNamespaces)
            if (n.type == k.type) return same_namespace(n.path, std::string("/proc/self/ns/") + k.proc);
        return false;
    });
    validate(spec);
    const Linux& l = spec.linux_;
    std::string rootfs = absolute(spec.root_path[0] == '/' ? spec.root_path : bundle + "/" + spec.root_path, "config.json: root.path");
    struct stat st{};
    if (::stat(rootfs.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) throw Error(ErrorKind::Usage, "root.path", rootfs, ENOTDIR);

    // Namespaces: new ones by clone, existing ones (a path) joined by this process first.
    uint64_t clone_flags = 0;
    std::vector<std::pair<int, std::string>> joins;
    bool userns = false, joined_userns = false, new_netns = false, new_cgroupns = false, new_timens = false, has_mount = false;
    for (const auto& n : l.namespaces) {
        int flag = ns_flag(n.type);
        if (n.type == "mount") has_mount = true;
        if (!n.path.empty()) {
            // The init builds the root in a joined mount namespace and pivots into it, which
            // moves every process there whose root is that namespace's: never the runtime's
            // own (the host's, as a rule), which would hand the host's processes the container's root.
            if (n.type == "mount" && same_namespace(n.path, "/proc/self/ns/mnt"))
                throw Error::usage("config.json: linux.namespaces: the mount namespace " + n.path +
                                   " is caisson-oci's own; a container's root is never built in it");
            if (n.type == "user") joined_userns = true;
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
    // A namespace joined by path that a user namespace below the container's owns is refused
    // (the runtime's, or the one joined; a new one has nothing below it yet): the kernel
    // gives the uid that made that user namespace every capability over it (and lets it
    // setns into its owner), whatever the process's own sets are.
    if (!userns) {
        std::string container_userns;
        for (const auto& n : l.namespaces)
            if (n.type == "user") container_userns = n.path;
        for (const auto& n : l.namespaces)
            if (!n.path.empty() && n.type != "user" && mech::owned_below(n.path, container_userns))
                throw Error::usage("config.json: linux.namespaces: the " + n.type + " namespace " + n.path +
                                   " belongs to another user namespace, below the container's: its owner's uid would hold "
                                   "every capability over it; join that user namespace instead");
    }
    // An ordinary user's runtime has the capabilities setns asks for only inside a user
    // namespace of its own: it joins others from one it joins first (run/container.cpp), and
    // a new one is made with the init, too late.
    if (::geteuid() != 0 && userns)
        for (const auto& n : l.namespaces)
            if (n.type != "user" && !n.path.empty())
                throw Error::usage("config.json: linux.namespaces: an ordinary user's runtime joins the " + n.type + " namespace " +
                                   n.path + " only from the user namespace it belongs to: join that one too (the kernel asks "
                                   "for CAP_SYS_ADMIN where the runtime is, which it has only there)");
    // A pid namespace joined by path (another container's): the init is in it from its clone,
    // still the runtime's (every capability, the host's root) until its pivot and its last
    // steps. A container's process that holds or could gain CAP_SYS_PTRACE in the runtime's
    // user namespace, or the one the container joins, could trace it or open its
    // /proc/PID/root past non-dumpability, from that namespace, one below it, or through a
    // descriptor of its /proc handed over (attack runs made directories on the host all three
    // ways). Refused while any such process exists (runc leaves it open; mech/ptracers.hpp).
    for (const auto& n : l.namespaces) {
        if (n.type != "pid" || n.path.empty()) continue;
        std::vector<std::string> reaching{"/proc/self/ns/user"};
        for (const auto& u : l.namespaces)
            if (u.type == "user" && !u.path.empty()) reaching.push_back(u.path);
        if (pid_t tracer = mech::ptracer_in(reaching))
            throw Error::usage("config.json: linux.namespaces: joining the pid namespace " + n.path + ": process " +
                               std::to_string(tracer) + " (the host's pid) of a container holds or could gain "
                               "CAP_SYS_PTRACE: it could take over this container's init while that is still the runtime's, "
                               "with the host's root (through that namespace's /proc, or one handed to it); drop "
                               "CAP_SYS_PTRACE from containers that run without a user namespace of their own, or give "
                               "this container a pid namespace of its own");
    }
    // Whether the container's uids reach the runtime's own, which owns the cgroup's files.
    bool maps_runtime_uid = true;
    for (const auto& n : l.namespaces) {
        if (n.type != "user") continue;
        std::string map;
        if (!n.path.empty()) map = mech::uid_map_of(n.path);
        for (const auto& m : l.uid_mappings)
            map += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " + std::to_string(m.size) + "\n";
        maps_runtime_uid = mech::map_reaches(map, ::geteuid());
    }
    if (spec.process->terminal && o.console_socket.empty())
        throw Error::usage("cannot allocate tty if caisson-oci will detach without setting console socket");
    if (!spec.process->terminal && !o.console_socket.empty())
        throw Error::usage("cannot use console socket if caisson-oci will not allocate tty");

    if (o.listen_fds) {
        spec.process->env.push_back("LISTEN_FDS=" + std::to_string(o.listen_fds));
        spec.process->env.push_back("LISTEN_PID=1");
    }
    ProcessPlan process = plan_process(*spec.process, &spec, o.id, maps_runtime_uid);
    process.process.preserve_fds = o.listen_fds + o.preserve_fds;
    refuse_ways_out(spec.process->terminal, process.process.preserve_fds);

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
        std::string joined_netns;
        for (const auto& n : l.namespaces)
            if (n.type == "network") joined_netns = n.path;
        egress.emplace(cgroup->v2_fd(), run::kernel_egress_rules(process.egress, true, joined_netns));
    }
    // The BPF LSM programs an annotation asked for, on the cgroup before any process is in it;
    // the monitor holds their links for the container's life. Fail closed, unless asked for
    // best effort, and then say so (caisson-oci has no report).
    std::unique_ptr<mech::BpfLsmPrograms> lsm;
    if (process.bpf_lsm.enabled()) {
        std::string why;
        lsm = mech::attach_bpf_lsm(cgroup ? cgroup->v2_fd() : -1, process.bpf_lsm, why);
        if (!lsm) {
            if (!process.bpf_lsm.best_effort)
                throw Error::usage("annotations org.caisson.lsm-*: " + why + "; org.caisson.lsm-best-effort runs without them");
            std::fprintf(stderr, "caisson-oci: warning: annotations org.caisson.lsm-*: %s; running without them (best effort)\n",
                         why.c_str());
            if (!process.monitor->decides_calls()) process.monitor.reset();
        } else {
            process.monitor->hold_fds = lsm->link_fds();
        }
    }
    kernel::Fd start_socket = mech::listen_unix(dir.path() + "/" + kStartSocket, "listen on start socket");
    kernel::Fd console;
    if (!o.console_socket.empty()) console = mech::connect_unix(o.console_socket, "connect to console socket");

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

    // Before the init exists: it would have no rights over the sources from its user namespace.
    std::map<size_t, kernel::Fd> idmapped = prepare_idmapped_mounts(spec, bundle);

    // The container, in the one launcher's terms (run/container).
    run::ContainerPlan plan;
    plan.clone_flags = clone_flags;
    if (cgroup && cgroup->v2_fd() >= 0) plan.cgroup_fd = cgroup->v2_fd();
    plan.new_userns = userns;
    plan.joined_userns = joined_userns;
    plan.runtime_is_root = ::geteuid() == 0;
    if (!o.no_new_keyring) plan.session_keyring = "_ses." + o.id;
    plan.new_cgroupns = new_cgroupns;
    plan.join_namespaces = joins;
    plan.new_timens = new_timens;
    for (const auto& [clock, off] : l.time_offsets)
        plan.timens_offsets += clock + " " + std::to_string(off.first) + " " + std::to_string(off.second) + "\n";
    if (userns) {
        plan.uid_map = map_lines(l.uid_mappings);
        plan.gid_map = map_lines(l.gid_mappings);
    }
    plan.oom_score_adj = spec.process->oom_score_adj;
    plan.sysctls.assign(l.sysctl.begin(), l.sysctl.end());
    plan.root = plan_rootfs(spec, {rootfs, bundle, userns || joined_userns, new_netns, o.no_pivot, &idmapped});
    if (cgroup) {
        for (const auto& path : cgroup->paths()) {
            std::string mount = path.substr(0, path.size() - cg_name.size() - 1 - (cg_parent.empty() ? 0 : cg_parent.size() + 1));
            std::string name = mount == layout.v2 ? std::string() : mount.substr(mount.rfind('/') + 1);
            plan.root.cgroup_dirs.emplace_back(name, path);
        }
    }
    plan.bring_up_loopback = new_netns;
    if (spec.has_hostname && !spec.hostname.empty()) plan.hostname = spec.hostname;
    if (!spec.domainname.empty()) plan.domainname = spec.domainname;
    plan.process = std::move(process.process);
    // caisson's monitor: for [[supervise]] rules the init hands it the filter's listener
    // through a connection made now; the monitor starts once the init exists.
    std::optional<run::MonitorSocket> monitor_socket;
    if (process.monitor) {
        monitor_socket = run::open_monitor_socket(dir.path() + "/" + kMonitorSocket);
        if (process.monitor->decides_calls()) {
            plan.process.monitor_fd = monitor_socket->init_end.get();
            plan.keep_fds.push_back(plan.process.monitor_fd);
        }
    }
    plan.console_socket = console ? console.get() : -1;
    plan.start_socket = start_socket.get();
    for (const auto& [index, fd] : idmapped) plan.keep_fds.push_back(fd.get());
    for (unsigned fd = 3; fd < 3 + o.listen_fds + o.preserve_fds; ++fd) plan.keep_fds.push_back(static_cast<int>(fd));

    // The OCI lifecycle at the launcher's points. createContainer and startContainer run in
    // the container's namespaces: their state carries the pid as the container sees it
    // (runtime-spec), the init's own.
    nlohmann::json creating = state_json(state, Status::Creating);
    auto in_container_state = [&](Status status) {
        nlohmann::json j = state_json(state, status);
        j["pid"] = ::getpid();
        return j.dump();
    };
    run::ContainerHooks hooks;
    if (!spec.hooks.prestart.empty() || !spec.hooks.create_runtime.empty())
        hooks.runtime_created = [&] {
            std::string err = run_hooks(spec.hooks.prestart, "prestart", creating.dump());
            return err.empty() ? run_hooks(spec.hooks.create_runtime, "createRuntime", creating.dump()) : err;
        };
    hooks.init_created = [&] { return run_hooks(spec.hooks.create_container, "createContainer", in_container_state(Status::Creating)); };
    hooks.init_starting = [&] { return run_hooks(spec.hooks.start_container, "startContainer", in_container_state(Status::Created)); };
    hooks.cloned = [&](pid_t pid, int pidfd) {
        guard.child(pidfd);
        guard.poststop(spec.hooks.poststop, state_json(state, Status::Stopped).dump());
        state.pid = pid;
        creating["pid"] = pid;
    };
    hooks.ready = [&](kernel::Fd listener) {
        // The device rules wait until the init has made linux.devices' nodes (mknod is
        // checked against them).
        if (cgroup) cgroup->apply_devices(device_plan);
        if (listener) {
            kernel::Fd agent = mech::connect_unix(spec.linux_.seccomp->listener_path, "connect to seccomp agent");
            nlohmann::json msg = {{"ociVersion", kSpecVersion}, {"fds", {"seccompFd"}}, {"pid", state.pid},
                                  {"metadata", spec.linux_.seccomp->listener_metadata}, {"state", state_json(state, Status::Creating)}};
            run::Failure f;
            if (!send_listener(agent.get(), listener.get(), msg.dump(), f)) throw Error(f.kind, f.step, f.object, f.err);
        }
    };
    run::spawn_container(plan, hooks, [&](pid_t pid, bool v2_too) {
        if (cgroup) cgroup->join_v1(pid, cgroup->v2_fd() >= 0 && v2_too);
    });
    start_socket.reset();
    console.reset();
    state.pid_start = process_start_time(state.pid);
    if (monitor_socket) {
        // The init is this process's child and not yet reaped: its pid is its own.
        kernel::Fd init(static_cast<int>(::syscall(SYS_pidfd_open, state.pid, 0)));
        if (!init) throw Error(ErrorKind::Setup, "pidfd_open", "container init", errno);
        state.monitor_pid = run::start_container_monitor(*process.monitor, *monitor_socket, init.get());
        state.monitor_start = process_start_time(state.monitor_pid);
        monitor_socket->init_end.reset();
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
    if (std::string err = run::release_container(dir.path() + "/" + kStartSocket); !err.empty()) throw Error::usage(err);
    Spec spec = parse_spec_json(s.config);
    // The spec (1.2, which this runtime declares): a failing poststart hook is logged, the rest
    // still run, and the container keeps running.
    for (const auto& err : run_every_hook(spec.hooks.poststart, "poststart", state_json(s, Status::Running).dump()))
        std::fprintf(stderr, "caisson-oci: warning: %s\n", err.c_str());
}

}  // namespace caisson::oci
