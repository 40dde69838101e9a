#include "mech/cgroup.hpp"

#include "mech/process_start.hpp"

#include "mech/device_filter.hpp"

#include <caisson/error.hpp>

#include <dirent.h>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace caisson::mech {
namespace {

constexpr const char* kPrefix = "caisson-";

std::string read_text(const std::string& path) {
    kernel::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

void write_text(const std::string& path, const std::string& value) {
    kernel::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
        throw Error(ErrorKind::Setup, "write cgroup file", path + " <- " + value, errno);
}

// Gives each group between the hierarchy's root and `leaf` (exclusive) at least `runtime`
// microseconds of v1 real-time budget, top down (a group's budget cannot exceed its parent's).
void reserve_rt_runtime(const std::string& mount, const std::string& leaf, const std::string& runtime) {
    const long long want = std::stoll(runtime);
    for (size_t at = leaf.find('/', mount.size() + 1); at != std::string::npos; at = leaf.find('/', at + 1)) {
        const std::string group = leaf.substr(0, at);
        if (std::stoll(read_text(group + "/cpu.rt_runtime_us")) < want) write_text(group + "/cpu.rt_runtime_us", runtime);
    }
}

bool try_write(const std::string& path, const std::string& value) {
    kernel::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    return fd && ::write(fd.get(), value.data(), value.size()) == static_cast<ssize_t>(value.size());
}

// "key value" lines (cpu.stat, memory.events, memory.oom_control).
std::optional<uint64_t> keyed(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    std::string k;
    uint64_t v;
    while (in >> k >> v)
        if (k == key) return v;
    return std::nullopt;
}

std::optional<uint64_t> number(const std::string& text) {
    if (text.empty() || text == "max") return std::nullopt;
    try {
        return std::stoull(text);
    } catch (...) {
        return std::nullopt;
    }
}

// The groups a sandbox's processes made beneath its own (a container whose cgroup mount is
// writable may make them, and hide processes in them): directories, breadth first, deepest
// last. Bounded (16384 groups), as a hostile tree may be wide or deep; what lies past the
// bound or past PATH_MAX is not listed, and goes by v2's cgroup.kill, which takes the whole
// tree, by the freezer, which holds it all, and by the end of the pid namespace's init.
std::vector<std::string> subgroups(const std::string& dir) {
    std::vector<std::string> out, todo{dir};
    for (size_t i = 0; i < todo.size() && out.size() < 16384; ++i) {
        DIR* d = ::opendir(todo[i].c_str());
        if (!d) continue;
        while (dirent* e = ::readdir(d)) {
            // Every name but the two links: a group named ".hide" is a group too.
            if (e->d_type != DT_DIR || std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
            if (out.size() >= 16384) break;
            std::string sub = todo[i] + "/" + e->d_name;
            out.push_back(sub);
            todo.push_back(sub);
        }
        ::closedir(d);
    }
    return out;
}

// Every process in the group and the groups beneath it.
std::vector<pid_t> procs(const std::string& dir) {
    std::vector<pid_t> out;
    std::vector<std::string> dirs{dir};
    for (auto& sub : subgroups(dir)) dirs.push_back(std::move(sub));
    for (const auto& d : dirs) {
        std::istringstream in(read_text(d + "/cgroup.procs"));
        pid_t p;
        while (in >> p) out.push_back(p);
    }
    return out;
}

// rmdir succeeds once the last task has left; a killed task leaves within moments. The groups
// beneath go first, deepest first (rmdir refuses a group that has any).
bool remove_dir(const std::string& path) {
    std::vector<std::string> subs = subgroups(path);
    for (auto it = subs.rbegin(); it != subs.rend(); ++it) (void)::rmdir(it->c_str());
    for (int attempt = 0; attempt < 2000; ++attempt) {
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return true;
        if (errno != EBUSY) return false;
        // A child group that was not empty at the first pass (a task leaving it): again.
        if (attempt % 100 == 99)
            for (auto it = subs.rbegin(); it != subs.rend(); ++it) (void)::rmdir(it->c_str());
        timespec ts{0, 1000000};
        ::nanosleep(&ts, nullptr);
    }
    return false;
}

// v2 says in cgroup.events ("frozen 0|1") when every task has reached the state asked for,
// which takes as long as the slowest task takes to get there; the file wakes a poller
// (POLLPRI) when it changes. False when it is not reached within 10 s.
bool wait_v2_frozen(const std::string& path, bool frozen) {
    kernel::Fd events(::open((path + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
    if (!events) return false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        char buf[256];
        ssize_t n = ::pread(events.get(), buf, sizeof(buf), 0);
        if (n < 0) return false;
        if (keyed(std::string(buf, static_cast<size_t>(n)), "frozen") == (frozen ? 1u : 0u)) return true;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return false;
        }
        pollfd p{events.get(), POLLPRI, 0};
        if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
    }
}

// Returns whether the state was reached (v1: FROZEN, not stuck in FREEZING). On v2, only
// with `wait` (caisson freeze and thaw: their caller acts on the state next); the kill
// that freezes first does not wait for a task that never gets there.
bool freeze_dir(const std::string& path, bool v2, bool frozen, bool wait = false) {
    if (v2) return try_write(path + "/cgroup.freeze", frozen ? "1" : "0") && (!wait || wait_v2_frozen(path, frozen));
    if (!try_write(path + "/freezer.state", frozen ? "FROZEN" : "THAWED")) return false;
    // FREEZING until every task has stopped.
    for (int i = 0; frozen && i < 1000 && read_text(path + "/freezer.state") == "FREEZING"; ++i) {
        timespec ts{0, 1000000};
        ::nanosleep(&ts, nullptr);
    }
    return read_text(path + "/freezer.state") == (frozen ? "FROZEN" : "THAWED");
}

void kill_dir(const std::string& path, bool v2, bool has_freezer) {
    if (v2 && try_write(path + "/cgroup.kill", "1")) return;
    // Without cgroup.kill (before 5.14) v2 freezes too: no fork outruns the kill.
    bool freeze = has_freezer || v2;
    if (freeze) freeze_dir(path, v2, true);
    for (int round = 0; round < 100; ++round) {
        auto pids = procs(path);
        if (pids.empty()) break;
        for (pid_t p : pids) ::kill(p, SIGKILL);
        if (freeze) freeze_dir(path, v2, false);  // SIGKILL ends a frozen task once thawed
    }
}

// Only what is not enabled yet is written: a delegated subtree's owner may not write the
// levels above it, where the controllers are already on.
void enable_controllers(const std::string& dir, const std::vector<std::string>& controllers) {
    std::string on = " " + read_text(dir + "/cgroup.subtree_control") + " ";
    for (const auto& c : controllers)
        if (on.find(" " + c + " ") == std::string::npos) write_text(dir + "/cgroup.subtree_control", "+" + c);
}

}  // namespace

// Only the hierarchies a new sandbox uses are looked at before it starts.
std::vector<std::string> collect_stale_in(const std::vector<std::string>& mounts, const std::string& parent,
                                          bool shared_parent);

// A container's leaf that already exists (its cgroupsPath names it) is taken only when no
// process is in it and it is not frozen. Processes of another container's there would share
// its limits and its freezer, and this container's delete would kill them with its own (the
// spec lets a runtime refuse such a cgroup; runc warns, and refuses a frozen one). Checked
// before the directory becomes this object's, whose destructor kills what is inside.
void refuse_if_in_use(const std::string& path, bool v2) {
    if (!procs(path).empty())
        throw Error::usage("create cgroup: " + path + " already holds processes (another container's?); a container's cgroup "
                           "must be its own: name an unused cgroupsPath");
    const bool frozen = v2 ? keyed(read_text(path + "/cgroup.events"), "frozen").value_or(0) == 1
                           : [&] {
                                 std::string state = read_text(path + "/freezer.state");
                                 return !state.empty() && state != "THAWED";
                             }();
    if (frozen)
        throw Error::usage("create cgroup: " + path + " is frozen; a process started there would never run: thaw it or "
                           "name another cgroupsPath");
}

std::string own_cgroup_name(const char* role) {
    std::string name = std::string(kPrefix) + std::to_string(::getpid()) + "-" + process_start_time(::getpid());
    if (::gettid() != ::getpid()) name += "-" + std::to_string(::gettid());
    return name + "-" + role;
}

std::unique_ptr<SandboxCgroup> SandboxCgroup::create(const CgroupLayout& layout, const cgroup_plan::Plan& plan,
                                                     const std::string& parent, bool shared_parent, const std::string& name,
                                                     bool defer_devices) {
    std::unique_ptr<SandboxCgroup> cg(new SandboxCgroup());
    cg->shared_parent_ = shared_parent;
    cg->parent_ = parent;
    // One sandbox per thread at a time (run() blocks): a library caller that runs several
    // at once from threads (plug-in workers) gets the thread's id in the name as well.
    if (name.empty()) {
        cg->name_ = std::string(kPrefix) + std::to_string(::getpid()) + "-" + process_start_time(::getpid());
        if (::gettid() != ::getpid()) cg->name_ += "-" + std::to_string(::gettid());
    } else {
        cg->name_ = name;
    }
    // Which directories: one per v1 mount the plan's controllers live on, and the v2
    // hierarchy whenever there is one (it kills and freezes for every version).
    std::vector<Dir> wanted;
    auto add = [&](const std::string& mount, bool v2, const std::string& controller) {
        auto it = std::find_if(wanted.begin(), wanted.end(), [&](const Dir& d) { return d.mount == mount; });
        if (it == wanted.end()) {
            Dir d;
            d.mount = mount;
            d.v2 = v2;
            d.parent = mount + "/" + parent;
            d.path = d.parent + "/" + cg->name_;
            wanted.push_back(d);
            it = wanted.end() - 1;
        }
        if (!controller.empty()) it->controllers.push_back(controller);
    };
    if (!layout.v2.empty()) add(layout.v2, true, "");
    for (const auto& c : plan.controllers) {
        auto v1 = layout.v1.find(c);
        if (v1 != layout.v1.end()) add(v1->second, false, c);
        else add(layout.v2, true, c);
    }
    if (::geteuid() != 0) {
        // An ordinary user may only use a subtree root delegated to it.
        for (const auto& d : wanted) {
            std::string at = d.parent;
            while (::access(at.c_str(), F_OK) < 0 && at.size() > d.mount.size()) at = at.substr(0, at.rfind('/'));
            if (::access(at.c_str(), W_OK) < 0)
                throw Error::usage(std::string("cgroups as an ordinary user need a delegated subtree: ") + at +
                                   " is not writable by uid " + std::to_string(::geteuid()) +
                                   (d.v2 ? "; run under `systemd-run --user --scope -p Delegate=yes`, or have root "
                                           "create a directory, chown it to you, enable its controllers in "
                                           "cgroup.subtree_control, and pass it as --cgroup-parent"
                                         : "; cgroup v1 is root's: have root create a directory in each hierarchy, "
                                           "chown it to you, and pass it as --cgroup-parent"));
        }
    }
    for (auto& d : wanted) {
        // The parent, and on v2 the controllers enabled down to it.
        std::string at = d.mount;
        std::istringstream parts(parent);
        std::string part;
        while (std::getline(parts, part, '/')) {
            if (d.v2) enable_controllers(at, d.controllers);
            at += "/" + part;
            if (::mkdir(at.c_str(), 0755) == 0) cg->created_parents_.push_back(at);
            else if (errno != EEXIST) throw Error(ErrorKind::Setup, "create cgroup", at, errno);
            if (!d.v2 && std::count(d.controllers.begin(), d.controllers.end(), "cpuset") &&
                read_text(at + "/cpuset.cpus").empty()) {
                // A new v1 cpuset starts with no CPUs and no memory nodes.
                std::string up = at.substr(0, at.rfind('/'));
                write_text(at + "/cpuset.cpus", read_text(up + "/cpuset.cpus"));
                write_text(at + "/cpuset.mems", read_text(up + "/cpuset.mems"));
            }
        }
        if (d.v2) enable_controllers(d.parent, d.controllers);
        // A sandbox ending meanwhile (another process, or another thread of this one) may
        // remove the shared parent while it is empty: make it again, until our leaf is in it
        // (from then on it cannot be removed). Several can end at once: a few rounds.
        for (int round = 0;; ++round) {
            if (::mkdir(d.path.c_str(), 0755) == 0) break;
            if (errno == EEXIST && !name.empty()) {
                refuse_if_in_use(d.path, d.v2);
                break;
            }
            if (errno != ENOENT || round == 16) throw Error(ErrorKind::Setup, "create cgroup", d.path, errno);
            if (::mkdir(d.parent.c_str(), 0755) < 0 && errno != EEXIST)
                throw Error(ErrorKind::Setup, "create cgroup", d.parent, errno);
            if (d.v2) enable_controllers(d.parent, d.controllers);
            if (!d.v2 && std::count(d.controllers.begin(), d.controllers.end(), "cpuset") &&
                read_text(d.parent + "/cpuset.cpus").empty()) {
                std::string up = d.parent.substr(0, d.parent.rfind('/'));
                write_text(d.parent + "/cpuset.cpus", read_text(up + "/cpuset.cpus"));
                write_text(d.parent + "/cpuset.mems", read_text(up + "/cpuset.mems"));
            }
        }
        cg->dirs_.push_back(d);
        // A new v1 cpuset leaf has no CPUs either, and no task could join it.
        if (!d.v2 && std::count(d.controllers.begin(), d.controllers.end(), "cpuset") &&
            read_text(d.path + "/cpuset.cpus").empty()) {
            write_text(d.path + "/cpuset.cpus", read_text(d.parent + "/cpuset.cpus"));
            write_text(d.path + "/cpuset.mems", read_text(d.parent + "/cpuset.mems"));
        }
    }
    cg->write_plan(plan, /*devices=*/false);
    if (const Dir* v2 = cg->dir_for(""); v2 && v2->v2) {
        cg->v2_fd_.reset(::open(v2->path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!cg->v2_fd_) throw Error(ErrorKind::Setup, "open cgroup", v2->path, errno);
    }
    if (!plan.devices.empty() && !cg->dir_for("devices") && !cg->v2_fd_)
        throw Error::usage("--device-allow/--device-deny: this host has neither a devices controller nor cgroup v2");
    if (!defer_devices) cg->apply_devices(plan);
    // v1 has no memory.oom.group: the supervisor hears of an OOM through this eventfd and
    // ends the sandbox itself.
    if (const Dir* mem = cg->dir_for("memory"); mem && !mem->v2) {
        kernel::Fd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        kernel::Fd oom(::open((mem->path + "/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC));
        if (!efd) throw Error(ErrorKind::Setup, "eventfd", "OOM notification", errno);
        if (!oom) throw Error(ErrorKind::Setup, "open", mem->path + "/memory.oom_control", errno);
        write_text(mem->path + "/cgroup.event_control", std::to_string(efd.get()) + " " + std::to_string(oom.get()));
        cg->oom_event_ = std::move(efd);
    }
    return cg;
}

void SandboxCgroup::apply_devices(const cgroup_plan::Plan& plan) const {
    write_plan(plan, /*devices=*/true);
    // v2 has no devices controller: a BPF program decides.
    if (!plan.devices.empty() && !dir_for("devices")) {
        kernel::Fd dir(::open(dir_for("")->path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir) throw Error(ErrorKind::Setup, "open cgroup", dir_for("")->path, errno);
        attach_device_filter(dir.get(), plan.devices);
    }
}

void SandboxCgroup::write_plan(const cgroup_plan::Plan& plan) const {
    write_plan(plan, false);
    write_plan(plan, true);
}

void SandboxCgroup::write_plan(const cgroup_plan::Plan& plan, bool devices) const {
    // v1 keeps memory plus swap at or above memory at every moment: raising both means
    // memsw first, lowering means memory first. Which one depends on what is there now, so
    // a refused memory limit is retried after the memsw limit (written then, not again).
    bool memsw_written = false;
    for (const auto& w : plan.writes) {
        if ((w.controller == "devices") != devices) continue;
        if (memsw_written && (w.file == "memory.memsw.limit_in_bytes" || w.file == std::string(cgroup_plan::kOptional) + "memory.memsw.limit_in_bytes"))
            continue;
        const Dir* d = dir_for(w.controller);
        if (!d) throw Error(ErrorKind::Setup, "cgroup plan", "no hierarchy for " + w.controller, 0);
        std::string value = w.value;
        if (value == cgroup_plan::kFromParent)
            value = read_text(d->parent + "/" + w.file + (d->v2 ? ".effective" : ""));
        std::string file = w.file;
        if (file.rfind(cgroup_plan::kOptional, 0) == 0) {
            file.erase(0, 1);
            if (::access((d->path + "/" + file).c_str(), F_OK) < 0) continue;
        }
        // v1's real-time budget is handed down: a group may not have more than its parent,
        // and a new one (caisson's shared parent among them) starts with none.
        if (!d->v2 && file == "cpu.rt_runtime_us" && value != "-1") reserve_rt_runtime(d->mount, d->path, value);
        try {
            write_text(d->path + "/" + file, value);
        } catch (const Error& e) {
            if (w.file == "memory.limit_in_bytes" && e.err() == EINVAL && !memsw_written) {
                for (const auto& later : plan.writes) {
                    std::string name = later.file;
                    if (name.rfind(cgroup_plan::kOptional, 0) == 0) name.erase(0, 1);
                    if (name != "memory.memsw.limit_in_bytes" || ::access((d->path + "/" + name).c_str(), F_OK) < 0) continue;
                    write_text(d->path + "/" + name, later.value);
                    memsw_written = true;
                    write_text(d->path + "/" + file, value);
                    break;
                }
                if (memsw_written) continue;
            }
            if (w.file == "cpuset.cpus" || w.file == "cpuset.mems")
                throw Error::usage("--" + std::string(w.file == "cpuset.cpus" ? "cpuset-cpus" : "cpuset-mems") + ": '" +
                                   value + "' is not within this host's (" +
                                   read_text(d->parent + "/" + w.file + (d->v2 ? ".effective" : "")) + ")");
            throw;
        }
    }
}

std::unique_ptr<SandboxCgroup> SandboxCgroup::open(const CgroupLayout& layout, const std::string& parent,
                                                   const std::string& name, bool shared_parent) {
    std::unique_ptr<SandboxCgroup> cg(new SandboxCgroup());
    cg->shared_parent_ = shared_parent;
    cg->name_ = name;
    auto add = [&](const std::string& mount, bool v2, const std::string& controller) {
        for (auto& d : cg->dirs_)
            if (d.mount == mount) {
                if (!controller.empty()) d.controllers.push_back(controller);
                return;
            }
        Dir d;
        d.mount = mount;
        d.v2 = v2;
        d.parent = mount + (parent.empty() ? "" : "/" + parent);
        d.path = d.parent + "/" + name;
        if (::access(d.path.c_str(), F_OK) < 0) return;
        if (!controller.empty()) d.controllers.push_back(controller);
        cg->dirs_.push_back(d);
    };
    if (!layout.v2.empty()) {
        add(layout.v2, true, "");
        for (const auto& c : layout.v2_controllers) add(layout.v2, true, c);
    }
    for (const auto& [c, mount] : layout.v1) add(mount, false, c);
    if (const Dir* v2 = cg->dir_for(""); v2 && v2->v2) cg->v2_fd_.reset(::open(v2->path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    return cg;
}

void SandboxCgroup::release() {
    dirs_.clear();
    created_parents_.clear();
}

std::vector<pid_t> SandboxCgroup::pids() const {
    const Dir* d = killer();
    if (!d && !dirs_.empty()) d = &dirs_.front();
    return d ? procs(d->path) : std::vector<pid_t>{};
}

bool SandboxCgroup::frozen() const {
    const Dir* d = killer();
    if (!d) return false;
    if (d->v2) return keyed(read_text(d->path + "/cgroup.events"), "frozen").value_or(0) == 1;
    return read_text(d->path + "/freezer.state") == "FROZEN";
}

SandboxCgroup::~SandboxCgroup() {
    kill_all();
    std::vector<std::string> tried;
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
        remove_dir(it->path);
        // The default parent is shared by concurrent sandboxes: the last one removes it
        // (rmdir fails while another sandbox is inside).
        if (shared_parent_) {
            (void)::rmdir(it->parent.c_str());
            tried.push_back(it->parent);
        }
    }
    // Levels of a parent path this run made, deepest first, also after a failed create
    // (those just tried, once is enough).
    for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it)
        if (std::find(tried.begin(), tried.end(), *it) == tried.end()) (void)::rmdir(it->c_str());
}

void SandboxCgroup::remove() {
    kill_all();
    while (!dirs_.empty()) {
        const Dir d = dirs_.back();
        if (!remove_dir(d.path)) throw Error(ErrorKind::Setup, "remove cgroup", d.path, errno);
        dirs_.pop_back();
        if (shared_parent_) (void)::rmdir(d.parent.c_str());  // the last sandbox in it removes it
    }
}

const SandboxCgroup::Dir* SandboxCgroup::dir_for(const std::string& controller) const {
    for (const auto& d : dirs_) {
        if (controller.empty() ? d.v2 : std::count(d.controllers.begin(), d.controllers.end(), controller) > 0) return &d;
    }
    return nullptr;
}

const SandboxCgroup::Dir* SandboxCgroup::killer() const {
    if (const Dir* v2 = dir_for(""); v2) return v2;
    return dir_for("freezer");
}

std::vector<std::string> SandboxCgroup::paths() const {
    std::vector<std::string> out;
    for (const auto& d : dirs_) out.push_back(d.path);
    return out;
}

void SandboxCgroup::join_v1(pid_t pid, bool with_v2) const {
    for (const auto& d : dirs_)
        if (!d.v2 || with_v2) write_text(d.path + "/cgroup.procs", std::to_string(pid));
}

void SandboxCgroup::freeze(bool wait) const {
    if (const Dir* d = killer()) freeze_dir(d->path, d->v2, true, wait);
}

void SandboxCgroup::thaw() const {
    if (const Dir* d = killer()) freeze_dir(d->path, d->v2, false);
}

void SandboxCgroup::kill_all() const {
    if (const Dir* k = killer()) kill_dir(k->path, k->v2, !k->v2);
    // Every other hierarchy holds the same processes; anything still listed goes too.
    for (const auto& d : dirs_)
        if (&d != killer()) kill_dir(d.path, false, false);
}

CgroupStats SandboxCgroup::stats() const {
    CgroupStats s;
    if (const Dir* m = dir_for("memory")) {
        if (m->v2) {
            s.memory_peak = number(read_text(m->path + "/memory.peak"));
            s.oom_kills = keyed(read_text(m->path + "/memory.events"), "oom_kill");
        } else {
            s.memory_peak = number(read_text(m->path + "/memory.max_usage_in_bytes"));
            s.oom_kills = keyed(read_text(m->path + "/memory.oom_control"), "oom_kill");
        }
    }
    if (const Dir* v2 = dir_for(""); v2 && v2->v2) {
        std::string cpu = read_text(v2->path + "/cpu.stat");  // usage is core on v2
        s.cpu_user_us = keyed(cpu, "user_usec");
        s.cpu_system_us = keyed(cpu, "system_usec");
        if (auto t = keyed(cpu, "throttled_usec")) s.cpu_throttled_us = t;
    }
    if (const Dir* a = dir_for("cpuacct"); a && !a->v2) {
        if (auto u = number(read_text(a->path + "/cpuacct.usage_user"))) s.cpu_user_us = *u / 1000;
        if (auto u = number(read_text(a->path + "/cpuacct.usage_sys"))) s.cpu_system_us = *u / 1000;
    }
    if (const Dir* c = dir_for("cpu"); c && !c->v2)
        if (auto t = keyed(read_text(c->path + "/cpu.stat"), "throttled_time")) s.cpu_throttled_us = *t / 1000;
    if (const Dir* p = dir_for("pids")) s.pids_peak = number(read_text(p->path + "/pids.peak"));
    return s;
}

std::vector<std::string> SandboxCgroup::collect_stale_siblings() const {
    std::vector<std::string> mounts;
    for (const auto& d : dirs_) mounts.push_back(d.mount);
    return collect_stale_in(mounts, parent_, false);  // the parent holds this sandbox
}

std::vector<std::string> collect_stale_in(const std::vector<std::string>& mounts, const std::string& parent,
                                          bool shared_parent) {
    std::vector<std::string> removed;
    // The same supervisors have a directory in each hierarchy: each is looked up once.
    std::map<pid_t, std::string> start_times;
    auto start_of = [&](pid_t pid) -> const std::string& {
        auto it = start_times.find(pid);
        if (it == start_times.end()) it = start_times.emplace(pid, process_start_time(pid)).first;
        return it->second;
    };
    for (const auto& mount : mounts) {
        std::string dir = mount + "/" + parent;
        DIR* d = ::opendir(dir.c_str());
        if (!d) continue;
        std::vector<std::string> stale;
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            // caisson-<pid>-<start time>...: only names of this form, and only when the pid
            // now belongs to another process or to none.
            if (n.rfind(kPrefix, 0) != 0) continue;
            auto dash = n.find('-', 8);
            if (dash == std::string::npos) continue;
            pid_t pid = 0;
            try {
                pid = static_cast<pid_t>(std::stol(n.substr(8, dash - 8)));
            } catch (...) {
                continue;
            }
            // caisson-<pid>-<start time>[-<thread id>]
            auto end = n.find('-', dash + 1);
            std::string start = n.substr(dash + 1, end == std::string::npos ? std::string::npos : end - dash - 1);
            if (pid > 0 && start_of(pid) != start && procs(dir + "/" + n).empty())
                stale.push_back(dir + "/" + n);
        }
        ::closedir(d);
        for (const auto& path : stale)
            if (::rmdir(path.c_str()) == 0) removed.push_back(path);
        // The default parent goes with its last sandbox (a create racing with this retries).
        if (shared_parent) (void)::rmdir(dir.c_str());
    }
    return removed;
}

std::vector<std::string> collect_stale(const CgroupLayout& layout, const std::string& parent, bool shared_parent) {
    std::set<std::string> mounts;
    for (const auto& [c, m] : layout.v1) mounts.insert(m);
    if (!layout.v2.empty()) mounts.insert(layout.v2);
    return collect_stale_in({mounts.begin(), mounts.end()}, parent, shared_parent);
}

void set_frozen(const CgroupLayout& layout, const std::string& parent, pid_t supervisor, bool frozen) {
    std::string name = std::string(kPrefix) + std::to_string(supervisor) + "-" + process_start_time(supervisor);
    // v2 freezes every version's processes; a v1-only host uses its freezer.
    std::string path;
    bool v2 = !layout.v2.empty();
    if (v2) path = layout.v2 + "/" + parent + "/" + name;
    else if (layout.v1.count("freezer")) path = layout.v1.at("freezer") + "/" + parent + "/" + name;
    struct stat st{};
    if (path.empty() || ::stat(path.c_str(), &st) < 0)
        throw Error(ErrorKind::Usage, frozen ? "freeze" : "thaw", "no sandbox cgroup for caisson pid " + std::to_string(supervisor),
                    ENOENT);
    if (!freeze_dir(path, v2, frozen, true))
        throw Error(ErrorKind::Setup, frozen ? "freeze" : "thaw", path + (v2 ? "/cgroup.freeze" : "/freezer.state"),
                    errno ? errno : EBUSY);
}

}  // namespace caisson::mech
