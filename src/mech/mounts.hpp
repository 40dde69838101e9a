// The sandbox's root: the rootfs (or an overlay over it) bound read-only, fresh /proc,
// /sys, a minimal /dev, /tmp, the user's mounts in order, the masks, then pivot_root.
// Every target inside the new root is resolved with RESOLVE_IN_ROOT.
#pragma once

#include "mech/devfs.hpp"

#include <string>
#include <vector>

#include "mech/overlay.hpp"
#include "kernel/failure.hpp"
#include <caisson/policy.hpp>

namespace caisson::mech {

// What the root is built from, decided before clone: the child only reads it (and fills
// the preallocated descriptor slots).
struct RootPlan {
    const Filesystem* fs = nullptr;             // the policy's
    OverlayPlan overlay;
    std::string tmp_size_option;
    std::vector<int> mount_source_fds;          // one slot per mount, filled by init
    std::vector<std::string> tmpfs_size_options;  // one per mount
    bool sysfs_fresh = false;  // a new sysfs (needs a net namespace of our own)
    bool proc_fresh = false;   // a new procfs (needs a pid namespace of our own)
    // Directories replaced by an empty tmpfs before the user's mounts (which may go inside
    // them), made read-only after those (policy/homes decides which); one slot each.
    std::vector<std::string> hidden_dirs;
    std::vector<int> hidden_fds;
    // --home: the caller's home bound read-only at its own path, before the user's mounts,
    // and these paths in it masked last, with the other masks.
    std::string home;
    int home_fd = -1;
    std::vector<std::string> home_masks;
    // Whether the process building the root has the program's own ids and groups already (in
    // a user namespace, init takes them first): only then is a masked or hidden path it may
    // not reach (EACCES) one the program cannot reach either, and skipped. Root on the host
    // gets EACCES too (NFS with root_squash, FUSE) where the program's user may pass.
    bool builder_is_the_program = false;
    // The policy's device_nodes, its names pointing into the policy (read after the clone).
    std::vector<ExtraDevNode> device_nodes;
    // With proc_fresh: called with the new procfs as soon as it is made, before anything is
    // mounted on it or made read-only beneath it; false (with `f` set) fails the build.
    bool (*with_fresh_proc)(int proc, void* arg, kernel::Failure& f) = nullptr;
    void* with_fresh_proc_arg = nullptr;
};

// Runs in the child, in its own mount namespace. On return the process's root is the
// sandbox's root and the host's tree is detached.
bool build_root(RootPlan& plan, kernel::Failure& f);

// Opens `path` inside `root` (O_PATH); when it is missing, creates it (a directory, or an
// empty file when !dir) and its missing parents, each resolved inside the root.
int open_or_create(int root, const char* path, bool dir, kernel::Failure& f);

// Hides each masked path (/dev/null over a file, an empty read-only tmpfs over a directory)
// and re-binds each read-only path read-only; missing ones are skipped. Last, so that no
// later mount can uncover them. A masked path this process may not reach (EACCES) is
// skipped only with `init_is_the_program` (it has the program's ids and groups and at least
// its capabilities, so the program cannot reach it either); otherwise it is an error, as in
// runc: a program that later takes another user's ids (an OCI process.user that owns a
// directory whose group is not mapped) could reach what root here cannot.
bool mask_paths(int root, const std::vector<std::string>& masked, const std::vector<std::string>& readonly,
                bool init_is_the_program, kernel::Failure& f);

}  // namespace caisson::mech
