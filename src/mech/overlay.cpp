#include "mech/overlay.hpp"

#include "kernel/fd.hpp"
#include "mech/mount_util.hpp"

#include <caisson/error.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {
namespace {

int idmapped_clone(const char* path, int userns_fd) {
    kernel::Fd clone(kernel::open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!clone) throw Error(ErrorKind::Setup, "clone overlay layer", path, errno);
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(userns_fd);
    if (kernel::mount_setattr(clone.get(), "", AT_EMPTY_PATH, &attr) < 0)
        throw Error(ErrorKind::Setup, "idmap overlay layer", path, errno);
    return clone.release();
}

bool mkdir_ok(int dirfd, const char* name, mode_t mode) {
    return ::mkdirat(dirfd, name, mode) == 0 || errno == EEXIST;
}

}  // namespace

OverlayFds prepare_overlay_idmaps(const run::OverlayPlan& plan, const char* rootfs, int userns_fd) {
    OverlayFds fds;
    if (plan.idmapped_lower) fds.lower = idmapped_clone(rootfs, userns_fd);
    if (plan.idmapped_upper) {
        try {
            fds.upper = idmapped_clone(plan.upper_base.c_str(), userns_fd);
        } catch (...) {
            if (fds.lower >= 0) ::close(fds.lower);
            throw;
        }
    }
    return fds;
}

int make_overlay_root(const run::OverlayPlan& plan, bool in_userns, OverlayFds fds, run::Failure& f) {
    const char* size_opts[] = {"mode=0700", plan.size_option.empty() ? nullptr : plan.size_option.c_str(),
                               nullptr};
    kernel::Fd stage(new_fs("tmpfs", size_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
    if (!stage) {
        f.set("mount overlay staging tmpfs", plan.size_option.c_str());
        return -1;
    }
    // Over "/" of this private namespace: absolute host paths still resolve from the old
    // root (lookups do not cross a mount stacked on their starting point), and layer paths
    // relative to the stage resolve from our working directory.
    if (kernel::move_mount(stage.get(), "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
        ::fchdir(stage.get()) < 0) {
        f.set("attach overlay staging tmpfs", "/");
        return -1;
    }

    const char* lowerdir = plan.lowerdir.c_str();
    if (fds.lower >= 0) {
        if (!mkdir_ok(stage.get(), "lower", 0700)) return f.set("mkdir", "overlay lower"), -1;
        kernel::Fd at(::openat(stage.get(), "lower", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!at || attach(fds.lower, at.get()) < 0) return f.set("attach idmapped lower layer", lowerdir), -1;
        lowerdir = "lower";
    }

    const char* upperdir = "upper";
    const char* workdir = "work";
    if (fds.upper >= 0) {
        if (!mkdir_ok(stage.get(), "keep", 0700)) return f.set("mkdir", "overlay keep"), -1;
        kernel::Fd at(::openat(stage.get(), "keep", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!at || attach(fds.upper, at.get()) < 0)
            return f.set("attach idmapped upper layer", plan.upper_base.c_str()), -1;
        if (!mkdir_ok(AT_FDCWD, "keep/upper", 0755) || !mkdir_ok(AT_FDCWD, "keep/work", 0700))
            return f.set("mkdir", plan.upper_base.c_str()), -1;
        upperdir = "keep/upper";
        workdir = "keep/work";
    } else if (!plan.upper_base.empty()) {
        if (!mkdir_ok(AT_FDCWD, plan.upperdir.c_str(), 0755)) return f.set("mkdir", plan.upperdir.c_str()), -1;
        if (!mkdir_ok(AT_FDCWD, plan.workdir.c_str(), 0700)) return f.set("mkdir", plan.workdir.c_str()), -1;
        upperdir = plan.upperdir.c_str();
        workdir = plan.workdir.c_str();
    } else if (!mkdir_ok(stage.get(), "upper", 0755) || !mkdir_ok(stage.get(), "work", 0700)) {
        return f.set("mkdir", "overlay upper"), -1;
    }

    kernel::Fd fs(kernel::fsopen("overlay", FSOPEN_CLOEXEC));
    if (!fs) return f.set("fsopen", "overlay"), -1;
    // "lowerdir+" takes one path as is: a rootfs path with ':' or ',' needs no escaping.
    if (kernel::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", lowerdir, 0) < 0)
        return f.set("overlay lowerdir", lowerdir), -1;
    if (kernel::fsconfig(fs.get(), FSCONFIG_SET_STRING, "upperdir", upperdir, 0) < 0)
        return f.set("overlay upperdir", upperdir), -1;
    if (kernel::fsconfig(fs.get(), FSCONFIG_SET_STRING, "workdir", workdir, 0) < 0)
        return f.set("overlay workdir", workdir), -1;
    // trusted.* xattrs are out of reach in a user namespace; user.* ones are not.
    if (in_userns && kernel::fsconfig(fs.get(), FSCONFIG_SET_FLAG, "userxattr", nullptr, 0) < 0)
        return f.set("overlay userxattr", lowerdir), -1;
    if (kernel::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
        return f.set("create overlay", lowerdir), -1;
    int root = kernel::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (root < 0) return f.set("fsmount overlay", lowerdir), -1;
    return root;
}

}  // namespace caisson::mech
