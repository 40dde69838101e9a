
#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/apparmor.hpp"
#include "mech/cgroup.hpp"
#include "mech/cgroup_detect.hpp"
#include "oci/foreground.hpp"
#include "oci/hooks.hpp"
#include "oci/resources.hpp"
#include "oci/spec.hpp"
#include "oci/state.hpp"
#include "oci/wait.hpp"
#include "policy/printable.hpp"

#include <caisson/error.hpp>
#include <caisson/oci.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <memory>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace caisson::oci {
namespace {

// The container's cgroup, kept: the object must not remove it when it goes.
struct KeptCgroup {
    std::unique_ptr<mech::SandboxCgroup> cg;
    ~KeptCgroup() {
        if (cg) cg->release();
    }
    mech::SandboxCgroup* operator->() const { return cg.get(); }
};

KeptCgroup open_cgroup(const ContainerState& s) {
    return {mech::SandboxCgroup::open(mech::detect_cgroups(), s.cgroup_parent, s.cgroup_name, s.cgroup_shared_parent)};
}

struct Loaded {
    StateDir dir;
    ContainerState state;
    Status status;
};

Loaded load(const std::string& root, const std::string& id, bool lock = true) {
    StateDir dir(root, id);
    if (!dir.exists()) throw Error::usage("container " + id + " does not exist");
    if (lock) dir.lock();
    ContainerState s = dir.load();
    bool frozen = false;
    if (!s.cgroup_name.empty()) frozen = open_cgroup(s)->frozen();
    Status st = dir.status(s, frozen);
    return {std::move(dir), std::move(s), st};
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string t = ss.str();
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    return t;
}

// Waits for a process that is not our child to end: its pidfd becomes readable.
bool wait_gone(pid_t pid, const std::string& start, int timeout_ms) {
    kernel::Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd || !process_is(pid, start)) return true;
    pollfd p{pidfd.get(), POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (process_is(pid, start)) {
        int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
        if (left <= 0) return false;
        // Readable once it has exited; a zombie nobody reaps also counts as gone.
        if (::poll(&p, 1, std::min(left, 50)) > 0) return true;
    }
    return true;
}

void signal_init(const ContainerState& s, int sig) {
    kernel::Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, s.pid, 0)));
    // The pidfd pins the process: checked after opening it, the start time proves it is ours.
    if (!pidfd || !process_is(s.pid, s.pid_start)) throw Error::usage("container not running");
    if (kernel::pidfd_send_signal(pidfd.get(), sig) < 0) throw Error(ErrorKind::Setup, "kill", "container init", errno);
}

}  // namespace

int parse_signal(const std::string& text) {
    if (text.empty()) return SIGTERM;
    if (std::all_of(text.begin(), text.end(), ::isdigit)) {
        int n = text.size() > 3 ? 0 : std::stoi(text);
        if (n <= 0 || n >= NSIG) throw Error::usage("invalid signal \"" + text + "\"");
        return n;
    }
    std::string name = text;
    for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (name.rfind("SIG", 0) == 0) name = name.substr(3);
    for (int s = 1; s < NSIG; ++s) {
        const char* abbrev = ::sigabbrev_np(s);
        if (abbrev && name == abbrev) return s;
    }
    if (name.rfind("RTMIN", 0) == 0 || name.rfind("RTMAX", 0) == 0) {
        // RTMIN+N and RTMAX-N, as kill(1) spells them.
        int off = 0;
        if (name.size() > 5) {
            const char* b = name.data() + 5 + (name[5] == '+' ? 1 : 0);
            auto [end, ec] = std::from_chars(b, name.data() + name.size(), off);
            if (ec != std::errc() || end != name.data() + name.size()) throw Error::usage("unknown signal \"" + text + "\"");
        }
        int sig = name[4] == 'N' ? SIGRTMIN + off : SIGRTMAX + off;
        if (sig < SIGRTMIN || sig > SIGRTMAX) throw Error::usage("invalid signal \"" + text + "\"");
        return sig;
    }
    throw Error::usage("unknown signal \"" + text + "\"");
}

nlohmann::json container_state(const std::string& root, const std::string& id) {
    Loaded l = load(root, id, false);
    return state_json(l.state, l.status);
}

void kill_container(const std::string& root, const std::string& id, int sig, bool all) {
    Loaded l = load(root, id);
    if (l.status == Status::Stopped) throw Error::usage("container not running");
    if (all && !l.state.cgroup_name.empty()) {
        KeptCgroup cg = open_cgroup(l.state);
        // Frozen while its processes are listed and signalled: none forks past the list, and
        // none ends, so no pid in it is another process's by the time its signal goes.
        const bool paused = l.status == Status::Paused;
        if (cg->has_freezer() && !paused) cg->freeze(/*wait=*/true);
        for (pid_t p : cg->pids()) ::kill(p, sig);
        // A frozen task takes its signal once thawed; a paused container stays paused, but
        // for SIGKILL, which it could only take thawed.
        if (cg->has_freezer() && (!paused || sig == SIGKILL)) cg->thaw();
        return;
    }
    signal_init(l.state, sig);
}

void delete_container(const std::string& root, const std::string& id, bool force) {
    StateDir dir(root, id);
    if (!dir.exists()) {
        // An aborted create can leave a directory without state: removed either way.
        struct stat st{};
        if (::lstat(dir.path().c_str(), &st) == 0) dir.remove();
        if (force) return;
        throw Error::usage("container " + id + " does not exist");
    }
    Loaded l = load(root, id);
    if ((l.status == Status::Running || l.status == Status::Paused) && !force)
        throw Error::usage("cannot delete container " + id + " that is not stopped: " + status_name(l.status));
    if (l.status != Status::Stopped) {
        // A created container's init waits on the start socket: SIGKILL ends it as well.
        if (!l.state.cgroup_name.empty()) {
            KeptCgroup cg = open_cgroup(l.state);
            cg->kill_all();
        }
        try {
            signal_init(l.state, SIGKILL);
        } catch (const Error&) {
        }
        if (!wait_gone(l.state.pid, l.state.pid_start, 10000))
            throw Error(ErrorKind::Setup, "delete", "container init " + std::to_string(l.state.pid) + " did not die", ETIMEDOUT);
    }
    // The monitor ends with the init; delete returns once it has, so nothing of the container
    // outlives it.
    if (l.state.monitor_pid && !wait_gone(l.state.monitor_pid, l.state.monitor_start, 2000)) {
        kernel::Fd m(static_cast<int>(::syscall(SYS_pidfd_open, l.state.monitor_pid, 0)));
        if (m && process_is(l.state.monitor_pid, l.state.monitor_start)) kernel::pidfd_send_signal(m.get(), SIGKILL);
        (void)wait_gone(l.state.monitor_pid, l.state.monitor_start, 2000);
    }
    if (!l.state.cgroup_name.empty()) {
        // What is left (a process of a shared pid namespace) is killed, and the directories go.
        // One that stays is an error, and the state stays with it: a second delete tries again.
        auto cg = mech::SandboxCgroup::open(mech::detect_cgroups(), l.state.cgroup_parent, l.state.cgroup_name,
                                            l.state.cgroup_shared_parent);
        cg->remove();
    }
    Spec spec = parse_spec_json(l.state.config);
    auto failures = run_every_hook(spec.hooks.poststop, "poststop", state_json(l.state, Status::Stopped).dump());
    l.dir.remove();
    // The spec: a failing poststop hook is logged, the rest still run, and the container is
    // deleted all the same.
    for (const auto& err : failures) std::fprintf(stderr, "caisson-oci: warning: %s\n", err.c_str());
}

std::string list_containers(const std::string& root, const std::string& format, bool quiet) {
    nlohmann::json all = nlohmann::json::array();
    std::vector<std::string> ids;
    bool present = false;
    const std::string checked = check_root(root, &present);
    if (DIR* d = present ? ::opendir(checked.c_str()) : nullptr) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ids.push_back(e->d_name);
        ::closedir(d);
    }
    std::sort(ids.begin(), ids.end());
    for (const auto& id : ids) {
        try {
            all.push_back(container_state(checked, id));
        } catch (const Error&) {
            // A directory mid-create or mid-delete is not a container yet.
        }
    }
    if (format == "json") return all.dump() + "\n";
    std::string out;
    if (quiet) {
        for (const auto& c : all) out += c["id"].get<std::string>() + "\n";
        return out;
    }
    char line[1024];
    std::snprintf(line, sizeof(line), "%-12s%-12s%-12s%-40s%-32s%s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
    out += line;
    for (const auto& c : all) {
        std::snprintf(line, sizeof(line), "%-12s%-12d%-12s%-40s%-32s%s\n", c["id"].get<std::string>().c_str(),
                      c["pid"].get<int>(), c["status"].get<std::string>().c_str(), c["bundle"].get<std::string>().c_str(),
                      c["created"].get<std::string>().c_str(), c["owner"].get<std::string>().c_str());
        out += line;
    }
    return out;
}

std::string ps_container(const std::string& root, const std::string& id, const std::string& format) {
    Loaded l = load(root, id, false);
    std::vector<pid_t> pids;
    if (l.status != Status::Stopped) {
        if (!l.state.cgroup_name.empty()) pids = open_cgroup(l.state)->pids();
        else pids.push_back(l.state.pid);
    }
    std::sort(pids.begin(), pids.end());
    if (format == "json") return nlohmann::json(pids).dump() + "\n";
    std::string out = "PID     CMD\n";
    for (pid_t p : pids) {
        std::string cmd = read_text("/proc/" + std::to_string(p) + "/cmdline");
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        // The container's own words: its escape sequences would drive the operator's terminal.
        cmd = printable(cmd, 4096);
        char line[64];
        std::snprintf(line, sizeof(line), "%-8d", p);
        out += line + cmd + "\n";
    }
    return out;
}

void pause_container(const std::string& root, const std::string& id, bool pause) {
    Loaded l = load(root, id);
    if (pause && l.status != Status::Running) throw Error::usage("container not running");
    if (!pause && l.status != Status::Paused) throw Error::usage("container not paused");
    if (l.state.cgroup_name.empty()) throw Error::usage("container " + id + " has no cgroup: it cannot be paused");
    KeptCgroup cg = open_cgroup(l.state);
    if (!cg->has_freezer()) throw Error::usage("this host has no freezer cgroup: containers cannot be paused");
    if (pause) cg->freeze();
    else cg->thaw();
    // v2 reports the frozen state once every task has stopped: wait for it, briefly.
    for (int i = 0; i < 1000 && cg->frozen() != pause; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (cg->frozen() != pause) throw Error(ErrorKind::Setup, pause ? "pause" : "resume", id, EBUSY);
}

void update_container(const std::string& root, const std::string& id, const nlohmann::json& resources) {
    Loaded l = load(root, id);
    if (l.status == Status::Stopped) throw Error::usage("container not running");
    if (l.state.cgroup_name.empty()) throw Error::usage("container " + id + " has no cgroup to update");
    Resources r = parse_resources(resources);
    auto layout = mech::detect_cgroups();
    cgroup_plan::Plan plan = plan_resources(r, layout.where(), /*update=*/true);
    KeptCgroup cg = open_cgroup(l.state);
    cg->write_plan(plan);
    // Kept in the stored config, so that a later update or `state` sees the same.
    auto& res = l.state.config["linux"]["resources"];
    if (!res.is_object()) res = nlohmann::json::object();
    for (const auto& [k, v] : resources.items()) res[k] = v;
    l.dir.save(l.state);
}

nlohmann::json stats_container(const std::string& root, const std::string& id) {
    Loaded l = load(root, id, false);
    if (l.status == Status::Stopped) throw Error::usage("container not running");
    nlohmann::json data = nlohmann::json::object();
    if (!l.state.cgroup_name.empty()) {
        KeptCgroup cg = open_cgroup(l.state);
        mech::CgroupStats st = cg->stats();
        nlohmann::json cpu = {{"usage", {{"user", st.cpu_user_us.value_or(0) * 1000}, {"kernel", st.cpu_system_us.value_or(0) * 1000},
                                         {"total", (st.cpu_user_us.value_or(0) + st.cpu_system_us.value_or(0)) * 1000}}},
                              {"throttling", {{"throttledTime", st.cpu_throttled_us.value_or(0) * 1000}}}};
        nlohmann::json memory = {{"usage", {{"max", st.memory_peak.value_or(0)}}}, {"oom_kills", st.oom_kills.value_or(0)}};
        data = {{"cpu", cpu}, {"memory", memory}, {"pids", {{"current", cg->pids().size()}}}};
    }
    return {{"type", "stats"}, {"id", id}, {"data", data}};
}

void events_container(const std::string& root, const std::string& id, bool once, double interval_s) {
    for (;;) {
        nlohmann::json j;
        try {
            j = stats_container(root, id);
        } catch (const Error&) {
            if (once) throw;
            return;  // stopped: the stream ends
        }
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
        if (once) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(interval_s * 1000)));
    }
}

nlohmann::json features() {
    std::vector<std::string> opts = {"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "idmap", "lazytime", "mand", "norelatime", "nostrictatime",
                                     "noatime", "nodev", "nodiratime", "noexec", "nosuid", "nosymfollow", "private", "rbind",
                                     "relatime", "remount", "ridmap", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw",
                                     "shared", "slave", "strictatime", "suid", "symfollow", "sync", "unbindable"};
    std::vector<std::string> caps;
    for (int c = 0; c <= 40; ++c) {
        auto names = capability_names(1ull << c);
        caps.insert(caps.end(), names.begin(), names.end());
    }
    return {
        {"ociVersionMin", "1.0.0"},
        {"ociVersionMax", kSpecVersion},
        {"hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
        {"mountOptions", opts},
        {"linux",
         {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}},
          {"capabilities", caps},
          {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}, {"rdma", true}}},
          {"seccomp",
           {{"enabled", true},
            {"actions", {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                         "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}},
            {"operators", {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}},
            {"archs", {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"}},
            {"knownFlags", {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"}},
            {"supportedFlags", {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"}}}},
          {"apparmor", {{"enabled", mech::apparmor_enabled()}}},
          {"selinux", {{"enabled", false}}},
          {"intelRdt", {{"enabled", false}}},
          {"mountExtensions", {{"idmap", {{"enabled", true}}}}}}},
        {"annotations", {{"org.opencontainers.runc.checkpoint.enabled", "false"}, {"io.github.caisson.compiler", "caisson seccomp compiler"}}},
    };
}

int run_container(const std::string& root, const std::string& id, const std::string& bundle, const std::string& pid_file,
                  const std::string& console_socket, bool detach, bool no_pivot, unsigned preserve_fds, bool keep,
                  bool no_new_keyring) {
    // Signals meant for the container are held from before it exists, and forwarded.
    sigset_t set, old;
    ::sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) ::sigaddset(&set, s);
    ::sigaddset(&set, SIGCHLD);
    if (!detach) ::sigprocmask(SIG_BLOCK, &set, &old);
    CreateOptions o{root, id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds, activation_fds()};
    // A terminal in the foreground, without a console socket: the runtime relays the pty
    // itself, as runc does.
    std::unique_ptr<ForegroundTerminal> foreground;
    if (!detach && console_socket.empty()) {
        std::ifstream in((bundle.empty() ? std::string(".") : bundle) + "/config.json");
        std::stringstream text;
        text << in.rdbuf();
        Spec spec;
        try {
            spec = parse_spec(text.str());
        } catch (const Error&) {
            // create says what is wrong with it
        }
        if (spec.process && spec.process->terminal) {
            foreground = std::make_unique<ForegroundTerminal>();
            o.console_socket = foreground->socket_path();
        }
    }
    pid_t pid = create_container(o);
    if (foreground) {
        try {
            foreground->receive_master();
        } catch (...) {
            delete_container(root, id, true);
            throw;
        }
    }
    try {
        start_container(root, id);
    } catch (...) {
        try {
            delete_container(root, id, true);
        } catch (...) {
        }
        throw;
    }
    if (detach) return 0;
    int status = foreground ? foreground->relay(pid, set) : forward_until_exit(pid, set);
    if (!keep) delete_container(root, id, true);
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return exit_code(status);
}

}  // namespace caisson::oci
