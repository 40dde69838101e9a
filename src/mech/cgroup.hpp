// The sandbox's cgroup: one directory per hierarchy it uses, named
// caisson-<supervisor pid>-<supervisor start time>[-<thread id> when not the main thread], under a
// parent ("caisson" by default).
// RAII: the destructor kills whatever is left inside and removes every directory, and the
// parent when it is empty. A supervisor killed with SIGKILL leaves its directories behind;
// collect_stale() (by each new sandbox, through collect_stale_siblings(), and by `caisson gc`)
// removes those whose supervisor is provably gone, and nothing else.
#pragma once

#include "kernel/fd.hpp"
#include "mech/cgroup_detect.hpp"
#include "policy/cgroup_plan.hpp"

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace caisson::mech {

struct CgroupStats {
    std::optional<uint64_t> memory_peak;     // bytes
    std::optional<uint64_t> oom_kills;
    std::optional<uint64_t> cpu_user_us, cpu_system_us;
    std::optional<uint64_t> cpu_throttled_us;
    std::optional<uint64_t> pids_peak;
};

// The name of a cgroup this process makes for a helper of its sandbox (`role`: "pasta"):
// caisson-<pid>-<start time>[-<thread id>]-<role>, which `caisson gc` and the next run collect
// once this process is gone, as they collect a sandbox's.
std::string own_cgroup_name(const char* role);

class SandboxCgroup {
public:
    // Throws caisson::Error naming the directory or file and errno; leaves nothing behind.
    // `shared_parent`: the default parent, removed by the last sandbox that leaves it; a
    // parent the caller named (--cgroup-parent) is left as it was.
    // `name`: an explicit leaf name (an OCI container's cgroupsPath), which may already
    // exist; empty: caisson-<pid>-<start time>.
    // `defer_devices`: the device rules wait for apply_devices(), so that the sandbox's own
    // setup may still make the device nodes its config lists (mknod is checked against them).
    static std::unique_ptr<SandboxCgroup> create(const CgroupLayout& layout, const cgroup_plan::Plan& plan,
                                                 const std::string& parent, bool shared_parent = true,
                                                 const std::string& name = {}, bool defer_devices = false);
    // The directories parent/name that exist in each hierarchy (a container created by an
    // earlier process). The destructor removes them, unless released.
    static std::unique_ptr<SandboxCgroup> open(const CgroupLayout& layout, const std::string& parent,
                                               const std::string& name, bool shared_parent);
    // Keeps the directories past this object: the container outlives the process that made it.
    void release();
    // Kills what is left and removes the directories now, as the destructor would, but says
    // when one stays (a process that outlived the kill, a mount on it): caisson-oci delete
    // must not report a container gone whose cgroup is not. Throws caisson::Error naming the
    // directory and errno; what was removed stays removed.
    void remove();
    // Writes a plan's values (update of a running container). Throws caisson::Error.
    void write_plan(const cgroup_plan::Plan& plan) const;
    // The device rules of a plan made with defer_devices: v1's devices.allow/deny, or v2's
    // BPF program. Throws caisson::Error.
    void apply_devices(const cgroup_plan::Plan& plan) const;
    // Every process in it, those in groups its processes made beneath it too.
    std::vector<pid_t> pids() const;
    bool frozen() const;
    bool has_freezer() const { return killer() != nullptr; }
    ~SandboxCgroup();
    SandboxCgroup(const SandboxCgroup&) = delete;
    SandboxCgroup& operator=(const SandboxCgroup&) = delete;

    const std::string& name() const { return name_; }
    std::vector<std::string> paths() const;
    int v2_fd() const { return v2_fd_.get(); }  // for clone3's CLONE_INTO_CGROUP, -1 without v2
    // Moves `pid` into the v1 hierarchies (v2 is joined at clone), and into v2 too when
    // `with_v2` (a clone that could not use CLONE_INTO_CGROUP).
    void join_v1(pid_t pid, bool with_v2 = false) const;
    // v1: an eventfd that fires when the memory controller hits OOM; -1 otherwise.
    int oom_eventfd() const { return oom_event_.get(); }
    // Stops every process at once, so that none can fork while the rest are killed; with
    // `wait`, returns once every one has stopped (v2 says so when it is done).
    void freeze(bool wait = false) const;
    void thaw() const;
    void kill_all() const;
    CgroupStats stats() const;
    // Removes the stale sandbox cgroups beside this one (collect_stale, for its hierarchies
    // and parent). A sweep reads /proc once per sibling, so on a busy host it is work worth
    // keeping off a start's path: the launcher calls it while init builds the sandbox.
    // Throws caisson::Error as collect_stale does.
    std::vector<std::string> collect_stale_siblings() const;

private:
    SandboxCgroup() = default;
    // The plan's writes to the devices controller, or all the others.
    void write_plan(const cgroup_plan::Plan& plan, bool devices) const;
    struct Dir {
        std::string mount;   // the hierarchy's mount point
        std::string parent;  // mount + "/" + parent path
        std::string path;    // parent + "/" + name
        bool v2 = false;
        std::vector<std::string> controllers;
    };
    const Dir* dir_for(const std::string& controller) const;
    const Dir* killer() const;  // the hierarchy that freezes and kills: v2, else v1's freezer
    std::string name_;
    std::vector<Dir> dirs_;  // created, in order
    std::vector<std::string> created_parents_;  // parent levels this run made, outermost first
    bool shared_parent_ = true;
    std::string parent_;  // relative to each hierarchy's mount
    kernel::Fd v2_fd_;
    kernel::Fd oom_event_;
};

// Removes the sandbox cgroups under `parent` that are empty and whose supervisor no longer
// runs (its pid is gone or belongs to a process started at another time). Returns them.
// The default parent is removed too once empty (`shared_parent`).
std::vector<std::string> collect_stale(const CgroupLayout& layout, const std::string& parent, bool shared_parent);

// Finds a running sandbox's cgroup by its supervisor's pid, and freezes or thaws it.
void set_frozen(const CgroupLayout& layout, const std::string& parent, pid_t supervisor, bool frozen);

}  // namespace caisson::mech
