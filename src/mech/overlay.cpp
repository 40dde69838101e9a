#include "mech/overlay.hpp"

#include "kernel/syscalls.hpp"
#include "mech/in_child.hpp"
#include "mech/fd_passing.hpp"
#include "mech/mount_util.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <cstring>
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

// The kernel's own word on why a filesystem context failed ("filesystem on / not
// supported"): its last message in the context's log, read before the context is closed.
// Into `why` (at least one byte), "" when there is none; errno kept. No allocation.
void context_log(int fs, char* why, size_t size) {
    const int saved = errno;
    why[0] = 0;
    char line[256];
    ssize_t n;
    // Each read takes one message ("e overlayfs: ..."); the last error is the one that counts.
    while ((n = ::read(fs, line, sizeof line - 1)) > 0) {
        line[n] = 0;
        const char* text = n > 2 && line[1] == ' ' ? line + 2 : line;
        size_t len = ::strnlen(text, size - 1);
        std::memcpy(why, text, len);
        why[len] = 0;
    }
    errno = saved;
}

// fsopen("overlay") with one lower, an upper and a work directory; returns the fs context.
// `why` (may be null) gets the kernel's message when it fails.
int overlay_context(const char* lowerdir, const char* upperdir, const char* workdir, bool userxattr,
                    const char** failed_step, char* why = nullptr, size_t why_size = 0) {
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
    if (kernel::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
        if (why && why_size) context_log(fs.get(), why, why_size);
        return -1;
    }
    *failed_step = "fsmount overlay";
    return kernel::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

}  // namespace

namespace {
kernel::Fd overlay_from_private_namespace(OverlayPlan plan, const std::string& rootfs);
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
    char why[256] = "";
    kernel::Fd root(overlay_context(rootfs.c_str(), upper.c_str(), work.c_str(), false, &step, why, sizeof why));
    // A kernel that takes no detached layer refuses the overlay itself with EINVAL, and says
    // why only in its own log (not the context's, where a wrong option is explained): made
    // again where the layers are attached (overlay_from_private_namespace says why).
    if (!root && errno == EINVAL && std::string_view(step) == "create overlay" && !why[0]) {
        stage.reset();
        held = HeldLayers{};
        return overlay_from_private_namespace(plan, rootfs);
    }
    if (!root) throw Error(ErrorKind::Setup, step, why[0] ? rootfs + " (" + why + ")" : rootfs, errno);
    return root;
}

namespace {

// The overlay made in this process's own mount namespace, with its layers attached there: a
// staging tmpfs over "/" of the namespace (so no host directory is touched) holds the upper
// and work directories. Returns its detached mount or -1 with `f` set. No allocation.
int overlay_in_own_namespace(const OverlayPlan& plan, const char* stage_mode, bool userxattr, kernel::Failure& f) {
    const char* size_opts[] = {stage_mode, plan.size_option.empty() ? nullptr : plan.size_option.c_str(), nullptr};
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
    int root = overlay_context(plan.lowerdir.c_str(), upperdir, workdir, userxattr, &step);
    if (root < 0) f.set(step, plan.lowerdir.c_str());
    return root;
}

// Root's overlay where the kernel takes no detached layer (before Linux 6.15 overlayfs
// clones each layer's mount, and the clone refuses a mount outside the mounter's namespace:
// EINVAL, "failed to clone upperpath"; the guest kernel of --vm is 6.12): made by a child in
// a private mount namespace of its own, with its layers attached there, and handed back.
// The namespace dies with the child; the overlay keeps its own clones of the layers.
kernel::Fd overlay_from_private_namespace(OverlayPlan plan, const std::string& rootfs) {
    plan.lowerdir = rootfs;
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        throw Error(ErrorKind::Setup, "socketpair", "overlay", errno);
    kernel::Fd here(pair[0]), there(pair[1]);
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorKind::Setup, "fork", "overlay", errno);
    if (pid == 0) {
        here.reset();
        kernel::Failure f;
        int root = -1;
        if (::unshare(CLONE_NEWNS) != 0) f.set("unshare", "a mount namespace for the overlay");
        // Private first: the staging tmpfs must not propagate back to the caller's namespace.
        else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) f.set("make private", "/");
        else root = overlay_in_own_namespace(plan, "mode=0755", false, f);
        int err = root < 0 ? (f.err ? f.err : EIO) : 0;
        char msg[512];
        int n = std::snprintf(msg, sizeof msg, "%d %s: %s", err, f.step, f.object);
        send_with_fds(there.get(), msg, static_cast<size_t>(std::max(0, std::min(n, static_cast<int>(sizeof msg) - 1))),
                      root >= 0 ? &root : nullptr, root >= 0 ? 1 : 0);
        ::_exit(0);
    }
    there.reset();
    char msg[512] = {};
    int fd = -1;
    size_t nfds = 1;
    ssize_t got = recv_with_fds(here.get(), msg, sizeof msg - 1, &fd, &nfds);
    const int recv_err = errno;
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    kernel::Fd root(nfds == 1 ? fd : -1);
    if (got <= 0) throw Error(ErrorKind::Setup, "overlay: the child that made it", "", got < 0 ? recv_err : EPIPE);
    int err = std::atoi(msg);
    if (err != 0 || !root) {
        const char* text = std::strchr(msg, ' ');
        throw Error(ErrorKind::Setup, "overlay in a private mount namespace", text ? text + 1 : rootfs, err ? err : EPROTO);
    }
    return root;
}

}  // namespace

int make_overlay_in_userns(const OverlayPlan& plan, kernel::Failure& f) {
    return overlay_in_own_namespace(plan, "mode=0700", true, f);
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
