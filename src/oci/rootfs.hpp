// The container's root filesystem from an OCI config: the bundle's rootfs bound over "/",
// the config's mounts in order (every target resolved inside the rootfs), the devices, the
// masked and read-only paths, then pivot_root. Runs in the container's init.
#pragma once

#include "kernel/fd.hpp"
#include "oci/spec.hpp"
#include "run/failure.hpp"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace caisson::oci {

// A mount's options, sorted into what the new mount API needs. Pure.
struct MountOptions {
    bool bind = false, recursive = false;
    unsigned long long attr_set = 0, attr_clear = 0;  // MOUNT_ATTR_*
    // The recursive ones ("rro", "rnosuid", ...): applied to the mount and every mount below.
    unsigned long long rec_set = 0, rec_clear = 0;
    unsigned long long propagation = 0;               // MS_SHARED / MS_SLAVE / MS_PRIVATE / MS_UNBINDABLE
    bool propagation_recursive = false;
    std::vector<std::string> data;                    // handed to the filesystem (fsconfig)
    bool remount = false;
};
// Throws caisson::Error (usage) for an option caisson cannot honour, naming the mount.
MountOptions parse_mount_options(const std::vector<std::string>& options, const std::string& field);

struct RootfsPlan {
    const Spec* spec = nullptr;
    std::string rootfs;                          // host path
    std::string bundle;                          // for relative bind sources
    std::vector<std::pair<std::string, std::string>> cgroup_dirs;  // hierarchy name -> host dir
    bool userns = false;
    bool new_netns = false;
    bool no_pivot = false;
    // mounts[i] -> its idmapped tree, made by the runtime (prepare_idmapped_mounts).
    const std::map<size_t, kernel::Fd>* idmapped = nullptr;
    // Runs after the mounts, before pivot_root (createContainer hooks); false stops.
    std::function<bool()> before_pivot;
};

// In the init, in its new mount namespace. On success the process's root is the container's.
bool build_rootfs(const RootfsPlan& plan, run::Failure& f);

// After pivot_root: root.readonly and linux.rootfsPropagation.
bool finish_rootfs(const RootfsPlan& plan, run::Failure& f);

}  // namespace caisson::oci
