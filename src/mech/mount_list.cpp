#include "mech/mount_list.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/device_node.hpp"
#include "mech/mount_util.hpp"
#include "mech/mounts.hpp"
#include "mech/pivot_root.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace caisson::mech {
namespace {

using kernel::Failure;

std::vector<const char*> c_strings(const std::vector<std::string>& v) {
    std::vector<const char*> out;
    for (const auto& s : v) out.push_back(s.c_str());
    out.push_back(nullptr);
    return out;
}

bool set_propagation(int mnt, const MountAttrs& o, Failure& f, const char* what) {
    if (!o.propagation) return true;
    mount_attr attr{};
    attr.propagation = o.propagation;
    if (kernel::mount_setattr(mnt, "", AT_EMPTY_PATH | (o.propagation_recursive ? AT_RECURSIVE : 0), &attr) < 0)
        return f.set("set mount propagation", what);
    return true;
}

// The recursive attributes, on the attached mount and everything below it. Asked for and not
// applied is an error, never a silent success.
bool set_recursive_attrs(int mnt, const MountAttrs& o, Failure& f, const char* what) {
    if (!o.rec_set && !o.rec_clear) return true;
    if (set_attrs(mnt, o.rec_set, o.rec_clear, true) < 0) return f.set("set recursive mount attributes", what);
    return true;
}

// A destination that leads back to the root itself (an image's `/data -> /`) would stack the
// mount over the whole root: what the container's later mounts, masks and devices went
// into would be covered for whoever enters it afterwards (an exec). Refused.
bool not_the_root(int root, int at, const ListedMount& m, Failure& f) {
    struct stat r{}, a{};
    if (::fstat(root, &r) < 0 || ::fstat(at, &a) < 0) return f.set("stat mount destination", m.destination.c_str());
    if (r.st_dev == a.st_dev && r.st_ino == a.st_ino)
        return f.set("mount on the root itself", (m.destination + " (a link in the image leads there)").c_str(), EINVAL);
    return true;
}

// Nothing is mounted inside the container's procfs (CVE-2019-19921's and CVE-2023-28642's
// class: a mount over /proc/self/attr or /proc/sys hides what the kernel or a runtime means
// to reach there), but over the files lxcfs stands in for, as runc allows, and a procfs over
// /proc itself. Judged where the destination resolved to, so an image's link into /proc
// counts as /proc.
bool not_inside_procfs(int at, const ListedMount& m, bool procfs_source, Failure& f) {
    struct statfs fs{};
    if (::fstatfs(at, &fs) < 0) return f.set("statfs mount destination", m.destination.c_str());
    if (fs.f_type != PROC_SUPER_MAGIC) return true;
    std::string dest;
    for (size_t i = 0; i < m.destination.size(); ++i)  // "//" and a trailing "/" say nothing
        if (m.destination[i] != '/' || (!dest.empty() && dest.back() != '/')) dest += m.destination[i];
    if (!dest.empty() && dest.back() == '/') dest.pop_back();
    if (dest.empty() || dest.front() != '/') dest.insert(dest.begin(), '/');
    static constexpr const char* kLxcfs[] = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                                             "/proc/swaps",   "/proc/uptime",    "/proc/loadavg", "/proc/slabinfo",
                                             "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled"};
    for (const char* allowed : kLxcfs)
        if (dest == allowed) return true;
    if (dest == "/proc" && procfs_source) return true;
    return f.set("mount inside /proc", (m.destination + " (only lxcfs's files, or a procfs over /proc)").c_str(), EPERM);
}

bool is_procfs(int fd) {
    struct statfs fs{};
    return ::fstatfs(fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
}

bool bind_mount(int root, const ListedMount& m, Failure& f) {
    const MountAttrs& o = m.attrs;
    // A bind takes no filesystem options: one it cannot apply is refused, not dropped.
    if (!o.data.empty()) return f.set("mount option not valid for a bind mount", (m.destination + ": " + o.data[0]).c_str(), EINVAL);
    kernel::Fd tree;
    if (m.idmapped_tree >= 0) {
        tree.reset(::fcntl(m.idmapped_tree, F_DUPFD_CLOEXEC, 3));  // attributes already set
        if (!tree) return f.set("dup idmapped tree", m.source.c_str());
    } else {
        tree.reset(kernel::open_tree(AT_FDCWD, m.source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (o.recursive ? AT_RECURSIVE : 0)));
        if (!tree) return f.set("open bind source", m.source.c_str());
        if ((o.attr_set || o.attr_clear) && set_attrs(tree.get(), o.attr_set, o.attr_clear, o.recursive) < 0)
            return f.set("set bind attributes", m.destination.c_str());
    }
    struct stat st{};
    if (::fstat(tree.get(), &st) < 0) return f.set("stat bind source", m.source.c_str());
    kernel::Fd at(open_or_create(root, m.destination.c_str(), S_ISDIR(st.st_mode), f));
    if (!at) return false;
    if (!not_the_root(root, at.get(), m, f) || !not_inside_procfs(at.get(), m, is_procfs(tree.get()), f)) return false;
    if (attach(tree.get(), at.get()) < 0) return f.set("bind mount", m.destination.c_str());
    return set_recursive_attrs(tree.get(), o, f, m.destination.c_str()) && set_propagation(tree.get(), o, f, m.destination.c_str());
}

bool attach_new(int root, int mnt, const ListedMount& m, Failure& f) {
    kernel::Fd at(open_or_create(root, m.destination.c_str(), true, f));
    if (!at) return false;
    if (!not_the_root(root, at.get(), m, f) || !not_inside_procfs(at.get(), m, is_procfs(mnt), f)) return false;
    if (attach(mnt, at.get()) < 0) return f.set("mount", m.destination.c_str());
    return set_recursive_attrs(mnt, m.attrs, f, m.destination.c_str()) && set_propagation(mnt, m.attrs, f, m.destination.c_str());
}

// The container's own cgroups: on v1 a tmpfs holding one bind per hierarchy, on v2 the
// container's directory (or, with a cgroup namespace, a fresh cgroup2).
bool cgroup_mount(int root, const ListRootPlan& plan, const ListedMount& m, Failure& f) {
    const MountAttrs& o = m.attrs;
    bool v2_only = plan.cgroup_dirs.size() == 1 && plan.cgroup_dirs[0].first.empty();
    if (v2_only) {
        kernel::Fd tree(kernel::open_tree(AT_FDCWD, plan.cgroup_dirs[0].second.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        if (!tree) return f.set("open cgroup", plan.cgroup_dirs[0].second.c_str());
        if (set_attrs(tree.get(), o.attr_set | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, false) < 0)
            return f.set("set cgroup attributes", m.destination.c_str());
        return attach_new(root, tree.get(), m, f);
    }
    static constexpr const char* kOpts[] = {"mode=0755", "size=64k", nullptr};
    kernel::Fd tmp(new_fs("tmpfs", kOpts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    if (!tmp) return f.set("mount tmpfs", m.destination.c_str());
    for (const auto& [name, dir] : plan.cgroup_dirs) {
        std::string sub = name.empty() ? "unified" : name;
        if (::mkdirat(tmp.get(), sub.c_str(), 0755) < 0 && errno != EEXIST) return f.set("mkdir in cgroup tmpfs", sub.c_str());
        kernel::Fd tree(kernel::open_tree(AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        if (!tree) return f.set("open cgroup", dir.c_str());
        if (set_attrs(tree.get(), o.attr_set | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, false) < 0)
            return f.set("set cgroup attributes", dir.c_str());
        if (kernel::move_mount(tree.get(), "", tmp.get(), sub.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
            return f.set("bind cgroup", dir.c_str());
    }
    if (o.attr_set & MOUNT_ATTR_RDONLY && set_attrs(tmp.get(), MOUNT_ATTR_RDONLY, 0, false) < 0)
        return f.set("make cgroup tmpfs read-only", m.destination.c_str());
    return attach_new(root, tmp.get(), m, f);
}

bool typed_mount(int root, const ListRootPlan& plan, const ListedMount& m, Failure& f) {
    if (m.type == "cgroup" || m.type == "cgroup2") return cgroup_mount(root, plan, m, f);
    // procfs and sysfs only on an ordinary directory of the image, as runc requires: a /proc
    // that is a symlink would put the procfs elsewhere and leave the image's link where the
    // runtime and its helpers look for /proc (CVE-2019-16884's and CVE-2025-52881's class).
    if (m.type == "proc" || m.type == "sysfs") {
        kernel::Fd at(open_in_root(root, m.destination.c_str(), O_PATH | O_NOFOLLOW));
        struct stat st{};
        if (at && (::fstat(at.get(), &st) < 0 || !S_ISDIR(st.st_mode)))
            return f.set("mount on a non-directory", (m.type + " on " + m.destination).c_str(), ENOTDIR);
    }
    std::vector<std::string> options = m.attrs.data;
    if (m.type == "tmpfs" && std::none_of(options.begin(), options.end(), [](const std::string& x) { return x.rfind("mode=", 0) == 0; })) {
        // A tmpfs without mode= takes its mountpoint's mode, as crun does (the kernel's
        // default, 1777, would open a directory the image kept closed).
        kernel::Fd at(open_in_root(root, m.destination.c_str(), O_PATH));
        struct stat st{};
        if (at && ::fstat(at.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
            char mode[16];
            std::snprintf(mode, sizeof(mode), "mode=%o", static_cast<unsigned>(st.st_mode & 07777));
            options.emplace_back(mode);
        }
    }
    auto data = c_strings(options);
    kernel::Fd mnt(new_fs(m.type.c_str(), data.data(), static_cast<unsigned>(m.attrs.attr_set), m.source.c_str()));
    if (!mnt && m.type == "sysfs" && (errno == EPERM || errno == EACCES) && !plan.new_netns) {
        // A sysfs belongs to a network namespace: without one of its own, a user namespace
        // cannot mount it, and runc binds the host's (read-only) instead.
        mnt.reset(kernel::open_tree(AT_FDCWD, "/sys", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
        if (mnt && set_attrs(mnt.get(), m.attrs.attr_set | MOUNT_ATTR_RDONLY, 0, true) < 0) return f.set("bind sysfs", "/sys");
    }
    if (!mnt) return f.set("mount", (m.type + " on " + m.destination).c_str());
    return attach_new(root, mnt.get(), m, f);
}

// A device at its path: a node of its own where the runtime may create one (root without a
// user namespace), else a bind of the host's node by the same path, as runc does.
bool make_device(int root, const ListRootPlan& plan, const ListedDevice& d, Failure& f) {
    std::string parent = d.path.substr(0, d.path.rfind('/'));
    std::string name = d.path.substr(d.path.rfind('/') + 1);
    kernel::Fd dir(open_or_create(root, parent.empty() ? "/" : parent.c_str(), true, f));
    if (!dir) return false;
    kernel::Fd real_dir(::openat(dir.get(), ".", O_DIRECTORY | O_CLOEXEC));
    if (!real_dir) return f.set("open device directory", parent.c_str());
    // Replaces what the image had there (a file, a node, a link; never a directory).
    if (::unlinkat(real_dir.get(), name.c_str(), 0) < 0 && errno != ENOENT) return f.set("remove before making device", d.path.c_str());
    const DeviceSpec spec{d.type, d.major, d.minor};
    if (!plan.userns || d.type == 'p')
        return make_device_node(real_dir.get(), name.c_str(), spec, d.mode, d.uid, d.gid, d.path.c_str(), f);
    // The host's node by the same path: checked to be the device asked for, never another file.
    kernel::Fd node(open_host_device(d.path.c_str(), spec, f));
    return node && place_host_device(real_dir.get(), name.c_str(), node.get(), d.path.c_str(), f);
}

bool make_devices(int root, const ListRootPlan& plan, Failure& f) {
    for (const auto& d : plan.devices)
        if (!make_device(root, plan, d, f)) return false;
    kernel::Fd dev(open_in_root(root, "/dev", O_DIRECTORY));
    if (!dev) return f.set("open", "/dev");
    struct Link {
        const char* target;
        const char* name;
    };
    static constexpr Link kLinks[] = {{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
                                      {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"}};
    for (const auto& l : kLinks)
        if (::symlinkat(l.target, dev.get(), l.name) < 0 && errno != EEXIST) return f.set("symlink in /dev", l.name);
    // /dev/ptmx: the root's own devpts' multiplexer, when it mounted one.
    struct stat st{};
    if (::fstatat(dev.get(), "pts/ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0) {
        ::unlinkat(dev.get(), "ptmx", 0);
        if (::symlinkat("pts/ptmx", dev.get(), "ptmx") < 0) return f.set("symlink in /dev", "ptmx");
    }
    return true;
}

}  // namespace

bool build_list_root(const ListRootPlan& plan, const std::function<bool()>& before_pivot, Failure& f) {
    // Nothing done here may propagate back to the host's namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) return f.set("make mounts slave", "/");
    kernel::Fd root(kernel::open_tree(AT_FDCWD, plan.rootfs.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (!root) return f.set("open rootfs", plan.rootfs.c_str());
    if (kernel::move_mount(root.get(), "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0) return f.set("attach rootfs", plan.rootfs.c_str());
    for (const auto& m : plan.mounts) {
        bool ok = (m.attrs.bind || m.type == "bind") ? bind_mount(root.get(), m, f) : typed_mount(root.get(), plan, m, f);
        if (!ok) return false;
    }
    if (!make_devices(root.get(), plan, f)) return false;
    // The process takes its own user later (process.user): what root cannot reach here, it
    // might.
    if (!mask_paths(root.get(), plan.masked, plan.readonly, false, f)) return false;
    if (before_pivot && !before_pivot()) return true;  // the caller reports it
    return enter_new_root(root.get(), plan.no_pivot, plan.rootfs.c_str(), f);
}

bool finish_list_root(const ListRootPlan& plan, Failure& f) {
    if (plan.root_propagation) {
        mount_attr attr{};
        attr.propagation = plan.root_propagation;
        if (kernel::mount_setattr(AT_FDCWD, "/", plan.root_propagation_recursive ? AT_RECURSIVE : 0, &attr) < 0)
            return f.set("set rootfs propagation", "/");
    }
    if (plan.readonly_root) {
        mount_attr attr{};
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (kernel::mount_setattr(AT_FDCWD, "/", 0, &attr) < 0) return f.set("make rootfs read-only", "/");
    }
    return true;
}

}  // namespace caisson::mech
