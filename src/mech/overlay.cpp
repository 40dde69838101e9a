#include "mech/overlay.hpp"

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
        if (!mkdir_ok(AT_FDCWD, upper.c_str(), 0755)) throw Error(ErrorKind::Setup, "mkdir", upper, errno);
        if (!mkdir_ok(AT_FDCWD, work.c_str(), 0700)) throw Error(ErrorKind::Setup, "mkdir", work, errno);
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
    if (!plan.upper_base.empty()) {
        if (!mkdir_ok(AT_FDCWD, plan.upperdir.c_str(), 0755)) return f.set("mkdir", plan.upperdir.c_str()), -1;
        if (!mkdir_ok(AT_FDCWD, plan.workdir.c_str(), 0700)) return f.set("mkdir", plan.workdir.c_str()), -1;
        upperdir = plan.upperdir.c_str();
        workdir = plan.workdir.c_str();
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
