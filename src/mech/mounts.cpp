#include "mech/mounts.hpp"

#include "kernel/fd.hpp"
#include "mech/devfs.hpp"
#include "mech/mount_util.hpp"
#include "mech/pivot_root.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

namespace caisson::mech {
namespace {

using kernel::Failure;

constexpr unsigned kRoAttrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

}  // namespace

namespace {

// Symlinks are followed, but always inside the root (RESOLVE_IN_ROOT): an image's
// /var/run -> /run or a hostile /evil -> ../../host both land in the rootfs. A dangling
// link is resolved by hand and its target created, as runc's securejoin does.
int open_or_create_at(int root, const char* path, bool dir, Failure& f, int depth) {
    if (depth > 40) return f.set("open mount target", path, ELOOP), -1;
    int fd = open_in_root(root, path, O_PATH);
    if (fd >= 0 || errno != ENOENT) {
        if (fd < 0) f.set("open mount target", path);
        return fd;
    }
    char buf[PATH_MAX];
    size_t len = strnlen(path, sizeof(buf));
    if (len >= sizeof(buf)) return f.set("mount target too long", path, ENAMETOOLONG), -1;
    std::memcpy(buf, path, len + 1);
    // Walk the components; create each missing one relative to its (resolved) parent.
    for (size_t i = 1; i <= len; ++i) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        kernel::Fd here(open_in_root(root, buf, O_PATH));
        if (!here) {
            if (errno != ENOENT) return f.set("open mount target", buf), -1;
            char* slash = std::strrchr(buf, '/');
            *slash = '\0';
            kernel::Fd parent(open_in_root(root, slash == buf ? "/" : buf, O_PATH | O_DIRECTORY));
            *slash = '/';
            if (!parent) return f.set("open parent of mount target", buf), -1;
            char link[PATH_MAX];
            ssize_t n = ::readlinkat(parent.get(), slash + 1, link, sizeof(link) - 1);
            if (n >= 0) {
                // A dangling link: continue from its target, relative to the link's directory.
                link[n] = '\0';
                char next[PATH_MAX];
                const char* rest = saved == '\0' ? "" : path + i;
                *slash = '\0';
                int w = link[0] == '/' ? std::snprintf(next, sizeof(next), "%s%s", link, rest)
                                       : std::snprintf(next, sizeof(next), "%s/%s%s", buf, link, rest);
                *slash = '/';
                if (w < 0 || static_cast<size_t>(w) >= sizeof(next))
                    return f.set("mount target too long", path, ENAMETOOLONG), -1;
                return open_or_create_at(root, next, dir, f, depth + 1);
            }
            bool last = saved == '\0';
            int rc = (last && !dir) ? ::openat(parent.get(), slash + 1,
                                               O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644)
                                    : ::mkdirat(parent.get(), slash + 1, 0755);
            if (rc < 0 && errno != EEXIST) {
                // Name the whole target: the user wrote that, not the missing parent.
                return f.set("create mount target", path), -1;
            }
            if (last && !dir && rc >= 0) ::close(rc);
        }
        buf[i] = saved;
    }
    fd = open_in_root(root, path, O_PATH);
    if (fd < 0) f.set("open mount target", path);
    return fd;
}

}  // namespace

int open_or_create(int root, const char* path, bool dir, Failure& f) {
    return open_or_create_at(root, path, dir, f, 0);
}

namespace {

bool mount_at(int root, int mnt, const char* target, bool dir, Failure& f) {
    kernel::Fd at(open_or_create(root, target, dir, f));
    if (!at) return false;
    if (attach(mnt, at.get()) < 0) return f.set("mount", target);
    return true;
}

bool tmpfs_at(int root, const char* target, const char* mode, const char* size, unsigned attrs, Failure& f) {
    const char* opts[] = {mode, size, nullptr};
    kernel::Fd t(new_fs("tmpfs", opts, attrs));
    if (!t) return f.set("mount tmpfs", target);
    return mount_at(root, t.get(), target, true, f);
}

// Host trees bound in (all opened before the new root covers the host's).
int clone_host(const char* path, bool recursive, unsigned attrs, Failure& f) {
    int fd = kernel::open_tree(AT_FDCWD, path,
                               OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (fd < 0) return f.set("open bind source", path), -1;
    if (attrs && set_attrs(fd, attrs, 0, recursive) < 0) {
        ::close(fd);
        return f.set("set bind attributes", path), -1;
    }
    return fd;
}

bool apply_user_mounts(int root, RootPlan& plan, Failure& f) {
    const auto& mounts = plan.fs->mounts;
    for (size_t i = 0; i < mounts.size(); ++i) {
        const MountSpec& m = mounts[i];
        const char* target = m.target.c_str();
        switch (m.kind) {
            case MountKind::Bind:
            case MountKind::RoBind: {
                struct stat st{};
                if (::fstat(plan.mount_source_fds[i], &st) < 0) return f.set("stat bind source", m.source.c_str());
                if (!mount_at(root, plan.mount_source_fds[i], target, S_ISDIR(st.st_mode), f)) return false;
                break;
            }
            case MountKind::Tmpfs:
                if (!tmpfs_at(root, target, "mode=0755",
                              plan.tmpfs_size_options[i].empty() ? nullptr : plan.tmpfs_size_options[i].c_str(),
                              MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, f))
                    return false;
                break;
            case MountKind::Dir: {
                kernel::Fd d(open_or_create(root, target, true, f));
                if (!d) return false;
                break;
            }
            case MountKind::Symlink: {
                const char* slash = std::strrchr(target, '/');
                char parent_path[PATH_MAX];
                size_t plen = static_cast<size_t>(slash - target);
                if (plen >= sizeof(parent_path)) return f.set("symlink", target, ENAMETOOLONG);
                std::memcpy(parent_path, target, plen);
                parent_path[plen] = '\0';
                kernel::Fd parent(open_or_create(root, plen ? parent_path : "/", true, f));
                if (!parent) return false;
                if (::symlinkat(m.source.c_str(), parent.get(), slash + 1) < 0) return f.set("symlink", target);
                break;
            }
        }
    }
    return true;
}

bool apply_masks(int root, const RootPlan& plan, Failure& f) {
    return mask_paths(root, plan.fs->masked_paths, plan.fs->readonly_paths, plan.builder_is_the_program, f);
}

}  // namespace

bool mask_paths(int root, const std::vector<std::string>& masked, const std::vector<std::string>& readonly,
                bool init_is_the_program, Failure& f) {
    kernel::Fd null_src, empty_dir;
    // Symlinks are followed, inside the root: what a masked path names is hidden.
    for (const auto& path : masked) {
        kernel::Fd at(open_in_root(root, path.c_str(), O_PATH));
        if (!at) {
            // Missing, or where this process cannot reach (nor then the program it starts).
            if (errno == ENOENT || (errno == EACCES && init_is_the_program)) continue;
            return f.set("open masked path", path.c_str());
        }
        struct stat st{};
        if (::fstat(at.get(), &st) < 0) return f.set("stat masked path", path.c_str());
        int rc;
        if (S_ISDIR(st.st_mode)) {
            static constexpr const char* kOpts[] = {"size=4k", "nr_inodes=1", "mode=0555", nullptr};
            if (!empty_dir) {
                // The first masked directory takes the tmpfs itself, the others a clone of
                // it, attached: a mount that is closed detached is unmounted then, and that
                // waits for an RCU grace period (namespace_unlock), some 0.14 ms of a start.
                empty_dir.reset(new_fs("tmpfs", kOpts, kRoAttrs | MOUNT_ATTR_NOEXEC));
                if (!empty_dir) return f.set("mount empty tmpfs for mask", path.c_str());
                rc = attach(empty_dir.get(), at.get());
            } else {
                rc = attach_clone(empty_dir.get(), at.get());
            }
        } else {
            if (!null_src) {
                // The sandbox's own /dev/null (already bound in) serves as the blank file.
                null_src.reset(open_in_root(root, "/dev/null", O_PATH | O_NOFOLLOW));
                if (!null_src) return f.set("open /dev/null for mask", path.c_str());
                // Only the null device itself: a file or link the image put there would be
                // bound over the masked paths instead (CVE-2025-31133).
                struct stat st{};
                if (::fstat(null_src.get(), &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
                    return f.set("mask source is not the null device", "/dev/null", ENODEV);
            }
            kernel::Fd clone(kernel::open_tree(null_src.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
            rc = clone ? attach(clone.get(), at.get()) : -1;
        }
        if (rc < 0) return f.set("mask", path.c_str());
    }
    for (const auto& path : readonly) {
        kernel::Fd at(open_in_root(root, path.c_str(), O_PATH));
        if (!at) {
            if (errno == ENOENT) continue;
            return f.set("open read-only path", path.c_str());
        }
        kernel::Fd clone(kernel::open_tree(at.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
        if (!clone || set_attrs(clone.get(), kRoAttrs, 0, true) < 0 || attach(clone.get(), at.get()) < 0)
            return f.set("make read-only", path.c_str());
    }
    return true;
}

namespace {

// An empty tmpfs over `dir` inside the root, found without following any link (a home that
// is a link is hidden where it leads, by its own entry): its descriptor; -1 when there is
// nothing to hide (missing, a link, or a place the caller cannot reach, nor then its
// program, when this process has the program's ids); -2 on failure.
int hide_dir(int root, const char* dir, bool builder_is_the_program, Failure& f) {
    while (*dir == '/') ++dir;
    kernel::Fd at(kernel::openat2(root, *dir ? dir : ".", O_PATH | O_DIRECTORY | O_CLOEXEC,
                                  RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS));
    if (!at) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || (errno == EACCES && builder_is_the_program)) return -1;
        return f.set("open home to hide", dir), -2;
    }
    static constexpr const char* kOpts[] = {"mode=0755", "size=1m", "nr_inodes=4096", nullptr};
    kernel::Fd t(new_fs("tmpfs", kOpts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    if (!t || attach(t.get(), at.get()) < 0) return f.set("hide home", dir), -2;
    return t.release();
}

}  // namespace

bool build_root(RootPlan& plan, Failure& f) {
    const Filesystem& fs = *plan.fs;
    // Nothing done here may propagate back to the host's namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) return f.set("make mounts slave", "/");

    // 1. Everything that comes from the host is opened while the host's tree is visible.
    DevSources dev;
    if (!open_dev_sources(dev, plan.device_nodes.data(), static_cast<int>(plan.device_nodes.size()), f)) return false;
    kernel::Fd proc(plan.proc_fresh
                        ? new_fs("proc", nullptr, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)
                        : clone_host("/proc", true, 0, f));
    if (!proc) return plan.proc_fresh ? f.set("mount proc", "/proc") : false;
    if (plan.proc_fresh && plan.with_fresh_proc && !plan.with_fresh_proc(proc.get(), plan.with_fresh_proc_arg, f)) return false;
    kernel::Fd sys(plan.sysfs_fresh ? new_fs("sysfs", nullptr, kRoAttrs | MOUNT_ATTR_NOEXEC)
                                    : clone_host("/sys", true, kRoAttrs, f));
    if (!sys) return plan.sysfs_fresh ? f.set("mount sysfs", "/sys") : false;
    for (size_t i = 0; i < fs.mounts.size(); ++i) {
        const MountSpec& m = fs.mounts[i];
        if (m.kind != MountKind::Bind && m.kind != MountKind::RoBind) continue;
        unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (m.kind == MountKind::RoBind ? MOUNT_ATTR_RDONLY : 0);
        plan.mount_source_fds[i] = clone_host(m.source.c_str(), true, attrs, f);
        if (plan.mount_source_fds[i] < 0) return false;
        struct stat st{};
        if (m.source_ino != 0 && (::fstat(plan.mount_source_fds[i], &st) < 0 || st.st_dev != m.source_dev || st.st_ino != m.source_ino))
            return f.set("bind source was swapped", m.source.c_str(), ESTALE);
    }

    if (!plan.home.empty()) {
        plan.home_fd = clone_host(plan.home.c_str(), true, kRoAttrs, f);
        if (plan.home_fd < 0) return false;
    }

    // 2. The root tree, attached over "/" of this namespace.
    kernel::Fd root;
    if (plan.overlay.prebuilt_root >= 0) {
        root.reset(plan.overlay.prebuilt_root);
    } else if (plan.overlay.enabled) {
        root.reset(make_overlay_in_userns(plan.overlay, f));
        if (!root) return false;
    } else {
        root.reset(clone_host(fs.rootfs.c_str(), true,
                              fs.writable_root ? MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV : kRoAttrs, f));
        if (!root) return false;
        struct stat st{};
        if (fs.rootfs_ino != 0 && (::fstat(root.get(), &st) < 0 || st.st_dev != fs.rootfs_dev || st.st_ino != fs.rootfs_ino))
            return f.set("the root was swapped", fs.rootfs.c_str(), ESTALE);
    }
    if (kernel::move_mount(root.get(), "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return f.set("attach root", fs.rootfs.c_str());

    // 3. The kernel's filesystems, then the user's mounts, then the masks.
    if (!mount_at(root.get(), proc.get(), "/proc", true, f)) return false;
    if (!mount_at(root.get(), sys.get(), "/sys", true, f)) return false;
    if (!build_dev(root.get(), dev, f)) return false;
    if (!tmpfs_at(root.get(), "/tmp", "mode=1777", plan.tmp_size_option.empty() ? nullptr : plan.tmp_size_option.c_str(),
                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, f))
        return false;
    // The host's /run holds sockets of host services (D-Bus, the systemd user manager):
    // a read-only bind does not stop connect(). A fresh, empty /run where the root has one.
    if (!fs.host_run) {
        kernel::Fd run(open_in_root(root.get(), "/run", O_PATH | O_DIRECTORY));
        if (run && !tmpfs_at(root.get(), "/run", "mode=0755", "size=16m", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, f))
            return false;
    }
    // The homes: empty, writable only while the user's mounts make their mount points.
    for (size_t i = 0; i < plan.hidden_dirs.size(); ++i) {
        int hidden = hide_dir(root.get(), plan.hidden_dirs[i].c_str(), plan.builder_is_the_program, f);
        if (hidden == -2) return false;
        plan.hidden_fds[i] = hidden;
    }
    if (plan.home_fd >= 0) {
        if (!mount_at(root.get(), plan.home_fd, plan.home.c_str(), true, f)) return false;
        ::close(plan.home_fd);
        plan.home_fd = -1;
    }
    if (!apply_user_mounts(root.get(), plan, f)) return false;
    for (int& fd : plan.mount_source_fds) {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    // A user's bind of a directory above a hidden one (--ro-bind /srv /srv over /srv/bob)
    // brings the host's copy back: hidden again, on top of the bind, read-only at once.
    for (const auto& dir : plan.hidden_dirs)
        for (const auto& m : fs.mounts) {
            const std::string& t = m.target;
            bool above = t == "/" || (dir.size() > t.size() && dir.compare(0, t.size(), t) == 0 && dir[t.size()] == '/');
            if ((m.kind != MountKind::Bind && m.kind != MountKind::RoBind) || !above) continue;
            int again = hide_dir(root.get(), dir.c_str(), plan.builder_is_the_program, f);
            if (again == -2) return false;
            if (again >= 0 && set_attrs(again, MOUNT_ATTR_RDONLY, 0, false) < 0) return ::close(again), f.set("make hidden home read-only", dir.c_str());
            if (again >= 0) ::close(again);
            break;
        }
    for (size_t i = 0; i < plan.hidden_fds.size(); ++i) {
        int& fd = plan.hidden_fds[i];
        if (fd < 0) continue;
        // Only the tmpfs itself: the user's binds below it keep their own attributes.
        if (set_attrs(fd, MOUNT_ATTR_RDONLY, 0, false) < 0) return f.set("make hidden home read-only", plan.hidden_dirs[i].c_str());
        ::close(fd);
        fd = -1;
    }
    if (!apply_masks(root.get(), plan, f)) return false;
    if (!mask_paths(root.get(), plan.home_masks, {}, plan.builder_is_the_program, f)) return false;

    // 4. Into it.
    return enter_new_root(root.get(), false, fs.rootfs.c_str(), f);
}

}  // namespace caisson::mech
