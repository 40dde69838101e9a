// A root built from a list of mounts, in the order given (an OCI config's `mounts`): the
// root directory bound over "/", each mount attached with every target resolved inside the
// root, the device nodes and /dev's links, the masked and read-only paths, then pivot_root.
// The list is plain data decided by a face before clone (oci/rootfs_plan translates
// config.json into it); this file only carries it out, in the init's own mount namespace.
#pragma once

#include "kernel/failure.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace caisson::mech {

// One mount's options, sorted into what the new mount API needs.
struct MountAttrs {
    bool bind = false, recursive = false;
    unsigned long long attr_set = 0, attr_clear = 0;  // MOUNT_ATTR_*
    // The recursive ones ("rro", "rnosuid", ...): applied to the mount and every mount below.
    unsigned long long rec_set = 0, rec_clear = 0;
    unsigned long long propagation = 0;  // MS_SHARED / MS_SLAVE / MS_PRIVATE / MS_UNBINDABLE
    bool propagation_recursive = false;
    std::vector<std::string> data;  // handed to the filesystem (fsconfig)
    bool remount = false;
};

struct ListedMount {
    std::string type;         // "bind" for a bind, else the filesystem's type
    std::string source;       // a bind's host path (absolute), else what mountinfo shows
    std::string destination;  // inside the root
    MountAttrs attrs;
    int idmapped_tree = -1;   // a bind's tree, already idmapped and with its attributes set
};

struct ListedDevice {
    std::string path;  // inside the root
    char type = 'c';   // 'c', 'b' or 'p'
    int64_t major = 0, minor = 0;
    uint32_t mode = 0666;
    std::optional<uint32_t> uid, gid;
};

struct ListRootPlan {
    std::string rootfs;  // host path of the root directory
    std::vector<ListedMount> mounts;
    std::vector<ListedDevice> devices;  // every node to make, defaults included
    std::vector<std::string> masked, readonly;
    // A cgroup mount shows the container's own directories: hierarchy name ("" for v2) -> host dir.
    std::vector<std::pair<std::string, std::string>> cgroup_dirs;
    bool userns = false;     // devices are bound from the host, never made (mknod is refused)
    bool new_netns = false;  // without one, a sysfs the kernel refuses is the host's, read-only
    bool no_pivot = false;
    unsigned long long root_propagation = 0;  // after pivot_root; 0 keeps it
    bool root_propagation_recursive = false;
    bool readonly_root = false;
};

// In the init, in its new mount namespace. `before_pivot` runs after the mounts and before
// pivot_root (createContainer hooks); when it returns false the build stops there and true
// is returned (the caller reports why). On success the process's root is the plan's.
bool build_list_root(const ListRootPlan& plan, const std::function<bool()>& before_pivot, kernel::Failure& f);

// After pivot_root (and the terminal): the root's propagation, then the root read-only.
bool finish_list_root(const ListRootPlan& plan, kernel::Failure& f);

}  // namespace caisson::mech
