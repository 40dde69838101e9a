#include "mech/overlay.hpp"

#include "kernel/syscalls.hpp"
#include "mech/in_child.hpp"
#include "mech/mount_util.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string.h>

namespace caisson::mech {
namespace {

bool mkdir_ok(int dirfd, const char* name, mode_t mode) {
    return ::mkdirat(dirfd, name, mode) == 0 || errno == EEXIST;
}

// --overlay-upper DIR's layer NAME (upper, work), made if missing and opened without
// following a link at NAME: DIR's owner may be another user than caisson's, and a link
// planted there would lead root's overlay, whose mount empties its work directory, into a
// directory of the link's choosing. -1 and errno on failure (ELOOP or ENOTDIR for a link).
int open_layer(int base, const char* name, mode_t mode) {
    if (!mkdir_ok(base, name, mode)) return -1;
    return ::openat(base, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

// The layers of --overlay-upper, held open; the overlay takes them by /proc/self/fd/N, which
// names the directory held whatever becomes of its path. No allocation (the userns side runs
// after clone).
struct HeldLayers {
    kernel::Fd upper, work;
    char upper_path[32] = {}, work_path[32] = {};
    const char* failed = nullptr;  // the layer that could not be opened
    bool open(const char* base_path) {
        // DIR itself without links on the way: its owner (or an ancestor's) could swap one
        // of its components for a link, and root's overlay would then work elsewhere.
        kernel::Fd base(kernel::openat2(AT_FDCWD, base_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, RESOLVE_NO_SYMLINKS));
        if (!base) return failed = errno == ELOOP ? "--overlay-upper: link on path" : "open --overlay-upper", false;
        upper.reset(open_layer(base.get(), "upper", 0755));
        if (!upper) return failed = "open --overlay-upper upper/", false;
        work.reset(open_layer(base.get(), "work", 0700));
        if (!work) return failed = "open --overlay-upper work/", false;
        std::snprintf(upper_path, sizeof upper_path, "/proc/self/fd/%d", upper.get());
        std::snprintf(work_path, sizeof work_path, "/proc/self/fd/%d", work.get());
        return true;
    }
};

// fsopen("overlay") with one lower, an upper and a work directory; returns the fs context.
int overlay_context(const char* lowerdir, const char* upperdir, const char* workdir, bool userxattr,
                    const char** failed_step) {
    kernel::Fd fs(kernel::fsopen("overlay", FSOPEN_CLOEXEC));
    *failed_step = "fsopen overlay";
    if (!fs) return -1;
    // "lowerdir+" takes one path as is: a rootfs path with ':' or ',' needs no escaping.
    *failed_step = "overlay lowerdir";
    if (kernel::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", lowerdir, 0) < 0) return -1;
    *failed_step = "overlay upperdir";
    if (kernel::fsconfig(fs.get(), FSCONFIG_SET_STRING, "upperdir", upperdir, 0) < 0) return -1;
    *failed_step = "overlay workdir";
    if (kernel::fsconfig(fs.get(), FSCONFIG_SET_STRING, "workdir", workdir, 0) < 0) return -1;
    // trusted.* xattrs are out of reach in a user namespace; user.* ones are not.
    *failed_step = "overlay userxattr";
    if (userxattr && kernel::fsconfig(fs.get(), FSCONFIG_SET_FLAG, "userxattr", nullptr, 0) < 0) return -1;
    *failed_step = "create overlay";
    if (kernel::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) return -1;
    *failed_step = "fsmount overlay";
    return kernel::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

}  // namespace

kernel::Fd build_overlay_as_root(const OverlayPlan& plan, const std::string& rootfs) {
    std::string upper = plan.upperdir, work = plan.workdir;
    kernel::Fd stage;
    HeldLayers held;
    if (plan.upper_base.empty()) {
        const char* opts[] = {"mode=0755", plan.size_option.empty() ? nullptr : plan.size_option.c_str(), nullptr};
        stage.reset(new_fs("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
        if (!stage) throw Error(ErrorKind::Setup, "mount overlay upper tmpfs", plan.size_option, errno);
        if (!mkdir_ok(stage.get(), "upper", 0755) || !mkdir_ok(stage.get(), "work", 0700))
            throw Error(ErrorKind::Setup, "mkdir", "overlay upper tmpfs", errno);
        // The tmpfs is detached: its directories are reachable through our descriptor.
        std::string base = "/proc/self/fd/" + std::to_string(stage.get());
        upper = base + "/upper";
        work = base + "/work";
    } else {
        if (!held.open(plan.upper_base.c_str())) throw Error(ErrorKind::Setup, held.failed, plan.upper_base, errno);
        upper = held.upper_path;
        work = held.work_path;
    }
    const char* step = "";
    kernel::Fd root(overlay_context(rootfs.c_str(), upper.c_str(), work.c_str(), false, &step));
    if (!root) throw Error(ErrorKind::Setup, step, rootfs, errno);
    return root;
}

int make_overlay_in_userns(const OverlayPlan& plan, kernel::Failure& f) {
    const char* size_opts[] = {"mode=0700", plan.size_option.empty() ? nullptr : plan.size_option.c_str(),
                               nullptr};
    kernel::Fd stage(new_fs("tmpfs", size_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
    if (!stage) return f.set("mount overlay staging tmpfs", plan.size_option.c_str()), -1;
    // Over "/" of this private namespace: absolute host paths still resolve from the old
    // root (lookups do not cross a mount stacked on their starting point), and layer paths
    // relative to the stage resolve from our working directory.
    if (kernel::move_mount(stage.get(), "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 || ::fchdir(stage.get()) < 0)
        return f.set("attach overlay staging tmpfs", "/"), -1;

    const char* upperdir = "upper";
    const char* workdir = "work";
    HeldLayers held;
    if (!plan.upper_base.empty()) {
        if (!held.open(plan.upper_base.c_str())) return f.set(held.failed, plan.upper_base.c_str()), -1;
        upperdir = held.upper_path;
        workdir = held.work_path;
    } else if (!mkdir_ok(stage.get(), "upper", 0755) || !mkdir_ok(stage.get(), "work", 0700)) {
        return f.set("mkdir", "overlay upper"), -1;
    }
    const char* step = "";
    int root = overlay_context(plan.lowerdir.c_str(), upperdir, workdir, true, &step);
    if (root < 0) f.set(step, plan.lowerdir.c_str());
    return root;
}

std::string overlay_in_userns_unavailable() {
    const char* step = "unshare";
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    int err = in_child([&] {
        if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) return errno;
        // Our own ids mapped to root inside, as caisson's rootless sandbox has them.
        auto write = [](const char* file, const std::string& text) {
            kernel::Fd fd(::open(file, O_WRONLY | O_CLOEXEC));
            return fd && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
        };
        if (!write("/proc/self/setgroups", "deny") || !write("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
            !write("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
            return step = "write id maps", errno;
        step = "mount scratch tmpfs";
        kernel::Fd stage(new_fs("tmpfs", nullptr, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
        if (!stage || ::fchdir(stage.get()) < 0) return errno;
        for (const char* d : {"lower", "upper", "work"})
            if (!mkdir_ok(stage.get(), d, 0755)) return step = "mkdir", errno;
        char lower[64];
        std::snprintf(lower, sizeof(lower), "/proc/self/fd/%d/lower", stage.get());
        kernel::Fd root(overlay_context(lower, "upper", "work", true, &step));
        return root ? 0 : errno;
    });
    if (err == 0) return "";
    return std::string(step) + ": " + strerrorname_np(err);
}

}  // namespace caisson::mech
