// A container's state between runtime invocations: <root>/<id>/state.json (written
// atomically), the start socket while it is created, and a lock. The status is derived
// from the kernel each time (is the init alive and the same process, is the start socket
// still there, is its cgroup frozen), never trusted from the file.
#pragma once

#include <caisson/oci.hpp>

#include "kernel/fd.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

namespace caisson::oci {

inline constexpr const char* kStartSocket = "start.sock";
// The container monitor's (run/container_monitor), when an annotation asks for [[supervise]].
inline constexpr const char* kMonitorSocket = "monitor.sock";

enum class Status { Creating, Created, Running, Paused, Stopped };
const char* status_name(Status);

// runc's rule: letters, digits, and _ + - . ; never "." or "..". Throws usage otherwise.
void check_id(const std::string& id);

// The state root (--root) must be a directory of this user's that no one else may write (not
// a symlink), below directories of root's or this user's that no one else may write (or
// sticky); a missing one is fine (create() makes it, and no other command uses it: `present`
// says whether it exists). Returns the path to use from then on: the one the kernel resolves
// now, without symlinks. Throws caisson::Error otherwise.
std::string check_root(const std::string& root, bool* present = nullptr);

struct ContainerState {
    std::string id, bundle, rootfs, created, owner;
    pid_t pid = 0;
    std::string pid_start;  // /proc/PID/stat field 22: a reused pid has another
    pid_t monitor_pid = 0;  // caisson's monitor beside the container, if it has one
    std::string monitor_start;
    std::map<std::string, std::string> annotations;
    std::string cgroup_parent, cgroup_name;
    bool cgroup_shared_parent = false;
    nlohmann::json config;  // the config.json it was created from (exec, hooks, delete)
};

// The JSON `state` prints (the runtime-spec's state plus runc's rootfs, created, owner).
nlohmann::json state_json(const ContainerState& s, Status status);

class StateDir {
public:
    StateDir(std::string root, std::string id);
    const std::string& path() const { return path_; }
    const std::string& id() const { return id_; }
    bool exists() const;
    // mkdir; throws "container with id exists: ID" when it does.
    void create();
    // Exclusive lock for the length of one command (flock on the directory).
    void lock();
    // The lock's descriptor, which a forked child must close (flock belongs to the open file).
    int lock_fd() const { return lock_.get(); }
    ContainerState load() const;  // throws "container ID does not exist"
    void save(const ContainerState& s) const;
    void remove() const;
    Status status(const ContainerState& s, bool frozen) const;

private:
    std::string root_, id_, path_;
    bool present_ = false;  // the root existed when checked (or create() made it)
    kernel::Fd lock_;
};

std::string process_start_time(pid_t pid);
bool process_is(pid_t pid, const std::string& start);  
}  // namespace caisson::oci
