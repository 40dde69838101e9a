// The container's root from an OCI config, translated into the one list-of-mounts plan that
// mech/mount_list carries out: the config's mounts with their options sorted, runc's default
// devices merged with linux.devices, the masked and read-only paths, rootfsPropagation and
// root.readonly. Pure: it runs in the runtime, before clone, so that a bad option is a usage
// error before anything exists.
#pragma once

#include "kernel/fd.hpp"
#include "mech/mount_list.hpp"
#include "oci/spec.hpp"

#include <map>
#include <string>

namespace caisson::oci {

// A mount's options, sorted into what the new mount API needs.
using MountOptions = mech::MountAttrs;
// Throws caisson::Error (usage) for an option caisson cannot honour, naming the mount.
MountOptions parse_mount_options(const std::vector<std::string>& options, const std::string& field);

struct RootfsSource {
    std::string rootfs;  // host path
    std::string bundle;  // for relative bind sources
    bool userns = false;
    bool new_netns = false;
    bool no_pivot = false;
    // mounts[i] -> its idmapped tree, made by the runtime (prepare_idmapped_mounts); the
    // plan refers to these descriptors, which the caller keeps open.
    const std::map<size_t, kernel::Fd>* idmapped = nullptr;
};

// Throws caisson::Error (usage) naming the field. The cgroup directories are the caller's to add.
mech::ListRootPlan plan_rootfs(const Spec& s, const RootfsSource& src);

}  // namespace caisson::oci
