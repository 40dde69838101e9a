#include "oci/rootfs.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/device_node.hpp"
#include "mech/mount_util.hpp"
#include "mech/mounts.hpp"
#include "mech/pivot_root.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace caisson::oci {
namespace {

using run::Failure;

struct Flag {
    const char* name;
    unsigned long long set, clear;
};
// Per-mount attributes in the new mount API's terms (mount(8)'s names).
constexpr Flag kAttrs[] = {
    {"ro", MOUNT_ATTR_RDONLY, 0},         {"rw", 0, MOUNT_ATTR_RDONLY},
    {"nosuid", MOUNT_ATTR_NOSUID, 0},     {"suid", 0, MOUNT_ATTR_NOSUID},
    {"nodev", MOUNT_ATTR_NODEV, 0},       {"dev", 0, MOUNT_ATTR_NODEV},
    {"noexec", MOUNT_ATTR_NOEXEC, 0},     {"exec", 0, MOUNT_ATTR_NOEXEC},
    {"noatime", MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME}, {"relatime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME},
    {"strictatime", MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME},
    // Not noatime, not relatime, not strictatime: each leaves the kernel's default, relatime.
    {"atime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME}, {"norelatime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME},
    {"nostrictatime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME},
    {"nodiratime", MOUNT_ATTR_NODIRATIME, 0}, {"diratime", 0, MOUNT_ATTR_NODIRATIME},
    {"nosymfollow", MOUNT_ATTR_NOSYMFOLLOW, 0}, {"symfollow", 0, MOUNT_ATTR_NOSYMFOLLOW},
    {"async", 0, 0},                      {"defaults", 0, 0},
};

struct Prop {
    const char* name;
    unsigned long long type;
    bool recursive;
};
constexpr Prop kProps[] = {
    {"private", MS_PRIVATE, false},       {"rprivate", MS_PRIVATE, true},   {"shared", MS_SHARED, false},
    {"rshared", MS_SHARED, true},         {"slave", MS_SLAVE, false},       {"rslave", MS_SLAVE, true},
    {"unbindable", MS_UNBINDABLE, false}, {"runbindable", MS_UNBINDABLE, true},
};

// Superblock flags that the new API sets through fsconfig (or not at all).
constexpr const char* kSuperblockFlags[] = {"sync", "dirsync", "mand", "nomand", "lazytime", "nolazytime",
                                            "silent", "loud", "iversion", "noiversion"};

std::vector<const char*> c_strings(const std::vector<std::string>& v) {
    std::vector<const char*> out;
    for (const auto& s : v) out.push_back(s.c_str());
    out.push_back(nullptr);
    return out;
}

std::string host_source(const RootfsPlan& plan, const std::string& source) {
    if (!source.empty() && source[0] == '/') return source;
    return plan.bundle + "/" + source;
}

bool set_propagation(int mnt, const MountOptions& o, Failure& f, const char* what) {
    if (!o.propagation) return true;
    mount_attr attr{};
    attr.propagation = o.propagation;
    if (kernel::mount_setattr(mnt, "", AT_EMPTY_PATH | (o.propagation_recursive ? AT_RECURSIVE : 0), &attr) < 0)
        return f.set("set mount propagation", what);
    return true;
}

// The recursive attributes, on the attached mount and everything below it. Asked for and not
// applied is an error, never a silent success.
bool set_recursive_attrs(int mnt, const MountOptions& o, Failure& f, const char* what) {
    if (!o.rec_set && !o.rec_clear) return true;
    if (mech::set_attrs(mnt, o.rec_set, o.rec_clear, true) < 0) return f.set("set recursive mount attributes", what);
    return true;
}

bool bind_mount(int root, const RootfsPlan& plan, size_t index, const MountOptions& o, Failure& f) {
    const Mount& m = plan.spec->mounts[index];
    // A bind takes no filesystem options: one it cannot apply is refused, not dropped.
    if (!o.data.empty()) return f.set("mount option not valid for a bind mount", (m.destination + ": " + o.data[0]).c_str(), EINVAL);
    std::string src = host_source(plan, m.source);
    kernel::Fd tree;
    auto made = plan.idmapped ? plan.idmapped->find(index) : decltype(plan.idmapped->end()){};
    if (plan.idmapped && made != plan.idmapped->end()) {
        tree.reset(::fcntl(made->second.get(), F_DUPFD_CLOEXEC, 3));  // attributes already set
        if (!tree) return f.set("dup idmapped tree", src.c_str());
    } else {
        tree.reset(kernel::open_tree(AT_FDCWD, src.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (o.recursive ? AT_RECURSIVE : 0)));
        if (!tree) return f.set("open bind source", src.c_str());
        if ((o.attr_set || o.attr_clear) && mech::set_attrs(tree.get(), o.attr_set, o.attr_clear, o.recursive) < 0)
            return f.set("set bind attributes", m.destination.c_str());
    }
    struct stat st{};
    if (::fstat(tree.get(), &st) < 0) return f.set("stat bind source", src.c_str());
    kernel::Fd at(mech::open_or_create(root, m.destination.c_str(), S_ISDIR(st.st_mode), f));
    if (!at) return false;
    if (mech::attach(tree.get(), at.get()) < 0) return f.set("bind mount", m.destination.c_str());
    return set_recursive_attrs(tree.get(), o, f, m.destination.c_str()) && set_propagation(tree.get(), o, f, m.destination.c_str());
}

bool attach_new(int root, int mnt, const Mount& m, const MountOptions& o, Failure& f) {
    kernel::Fd at(mech::open_or_create(root, m.destination.c_str(), true, f));
    if (!at) return false;
    if (mech::attach(mnt, at.get()) < 0) return f.set("mount", m.destination.c_str());
    return set_recursive_attrs(mnt, o, f, m.destination.c_str()) && set_propagation(mnt, o, f, m.destination.c_str());
}

// The container's own cgroups: on v1 a tmpfs holding one bind per hierarchy, on v2 the
// container's directory (or, with a cgroup namespace, a fresh cgroup2).
bool cgroup_mount(int root, const RootfsPlan& plan, const Mount& m, const MountOptions& o, Failure& f) {
    bool v2_only = plan.cgroup_dirs.size() == 1 && plan.cgroup_dirs[0].first.empty();
    if (v2_only) {
        kernel::Fd tree(kernel::open_tree(AT_FDCWD, plan.cgroup_dirs[0].second.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        if (!tree) return f.set("open cgroup", plan.cgroup_dirs[0].second.c_str());
        if (mech::set_attrs(tree.get(), o.attr_set | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, false) < 0)
            return f.set("set cgroup attributes", m.destination.c_str());
        return attach_new(root, tree.get(), m, o, f);
    }
    static constexpr const char* kOpts[] = {"mode=0755", "size=64k", nullptr};
    kernel::Fd tmp(mech::new_fs("tmpfs", kOpts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    if (!tmp) return f.set("mount tmpfs", m.destination.c_str());
    for (const auto& [name, dir] : plan.cgroup_dirs) {
        std::string sub = name.empty() ? "unified" : name;
        if (::mkdirat(tmp.get(), sub.c_str(), 0755) < 0 && errno != EEXIST) return f.set("mkdir in cgroup tmpfs", sub.c_str());
        kernel::Fd tree(kernel::open_tree(AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        if (!tree) return f.set("open cgroup", dir.c_str());
        if (mech::set_attrs(tree.get(), o.attr_set | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, false) < 0)
            return f.set("set cgroup attributes", dir.c_str());
        if (kernel::move_mount(tree.get(), "", tmp.get(), sub.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
            return f.set("bind cgroup", dir.c_str());
    }
    // cpu and cpuacct share a directory on most hosts; programs look for either name.
    if (o.attr_set & MOUNT_ATTR_RDONLY && mech::set_attrs(tmp.get(), MOUNT_ATTR_RDONLY, 0, false) < 0)
        return f.set("make cgroup tmpfs read-only", m.destination.c_str());
    return attach_new(root, tmp.get(), m, o, f);
}

bool typed_mount(int root, const RootfsPlan& plan, const Mount& m, const MountOptions& o, Failure& f) {
    if (m.type == "cgroup" || m.type == "cgroup2") return cgroup_mount(root, plan, m, o, f);
    std::vector<std::string> options = o.data;
    if (m.type == "tmpfs" && std::none_of(options.begin(), options.end(), [](const std::string& x) { return x.rfind("mode=", 0) == 0; })) {
        // A tmpfs without mode= takes its mountpoint's mode, as crun does (the kernel's
        // default, 1777, would open a directory the image kept closed).
        kernel::Fd at(mech::open_in_root(root, m.destination.c_str(), O_PATH));
        struct stat st{};
        if (at && ::fstat(at.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
            char mode[16];
            std::snprintf(mode, sizeof(mode), "mode=%o", static_cast<unsigned>(st.st_mode & 07777));
            options.emplace_back(mode);
        }
    }
    auto data = c_strings(options);
    kernel::Fd mnt(mech::new_fs(m.type.c_str(), data.data(), static_cast<unsigned>(o.attr_set), m.source.c_str()));
    if (!mnt && m.type == "sysfs" && (errno == EPERM || errno == EACCES) && !plan.new_netns) {
        // A sysfs belongs to a network namespace: without one of its own, a user namespace
        // cannot mount it, and runc binds the host's (read-only) instead.
        mnt.reset(kernel::open_tree(AT_FDCWD, "/sys", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
        if (mnt && mech::set_attrs(mnt.get(), o.attr_set | MOUNT_ATTR_RDONLY, 0, true) < 0) return f.set("bind sysfs", "/sys");
    }
    if (!mnt) return f.set("mount", (m.type + " on " + m.destination).c_str());
    return attach_new(root, mnt.get(), m, o, f);
}

struct DefaultDevice {
    const char* name;
    unsigned major, minor;
};
constexpr DefaultDevice kDefaultDevices[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
                                             {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};

// A device at `path`: a node of its own where the runtime may create one (root without a
// user namespace), else a bind of the host's node, as runc does.
bool make_device(int root, const RootfsPlan& plan, const std::string& path, char type, int64_t major, int64_t minor,
                 uint32_t mode, std::optional<uint32_t> uid, std::optional<uint32_t> gid, Failure& f) {
    std::string parent = path.substr(0, path.rfind('/'));
    std::string name = path.substr(path.rfind('/') + 1);
    kernel::Fd dir(mech::open_or_create(root, parent.empty() ? "/" : parent.c_str(), true, f));
    if (!dir) return false;
    kernel::Fd real_dir(::openat(dir.get(), ".", O_DIRECTORY | O_CLOEXEC));
    if (!real_dir) return f.set("open device directory", parent.c_str());
    ::unlinkat(real_dir.get(), name.c_str(), 0);  // replaces what the image had there
    const mech::DeviceSpec d{type, major, minor};
    if (!plan.userns || type == 'p')
        return mech::make_device_node(real_dir.get(), name.c_str(), d, mode, uid, gid, path.c_str(), f);
    // The host's node by the same path: checked to be the device asked for, never another file.
    kernel::Fd node(mech::open_host_device(path.c_str(), d, f));
    return node && mech::place_host_device(real_dir.get(), name.c_str(), node.get(), path.c_str(), f);
}

bool make_devices(int root, const RootfsPlan& plan, Failure& f) {
    const Spec& s = *plan.spec;
    for (const auto& d : kDefaultDevices) {
        std::string path = std::string("/dev/") + d.name;
        bool overridden = std::any_of(s.linux_.devices.begin(), s.linux_.devices.end(), [&](const Device& x) { return x.path == path; });
        if (!overridden && !make_device(root, plan, path, 'c', d.major, d.minor, 0666, std::nullopt, std::nullopt, f)) return false;
    }
    for (const auto& d : s.linux_.devices)
        if (!make_device(root, plan, d.path, d.type == "u" ? 'c' : d.type[0], d.major, d.minor, d.file_mode.value_or(0666),
                         d.uid, d.gid, f))
            return false;
    kernel::Fd dev(mech::open_in_root(root, "/dev", O_DIRECTORY));
    if (!dev) return f.set("open", "/dev");
    struct Link {
        const char* target;
        const char* name;
    };
    static constexpr Link kLinks[] = {{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
                                      {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"}};
    for (const auto& l : kLinks)
        if (::symlinkat(l.target, dev.get(), l.name) < 0 && errno != EEXIST) return f.set("symlink in /dev", l.name);
    // /dev/ptmx: the container's own devpts' multiplexer, when it mounted one.
    struct stat st{};
    if (::fstatat(dev.get(), "pts/ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0) {
        ::unlinkat(dev.get(), "ptmx", 0);
        if (::symlinkat("pts/ptmx", dev.get(), "ptmx") < 0) return f.set("symlink in /dev", "ptmx");
    }
    return true;
}

bool write_sysctls(const Spec& s, Failure& f) {
    for (const auto& [key, value] : s.linux_.sysctl) {
        std::string path = "/proc/sys/" + key;
        std::replace(path.begin() + 10, path.end(), '.', '/');
        kernel::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
            return f.set("write sysctl", key.c_str());
    }
    return true;
}

}  // namespace

MountOptions parse_mount_options(const std::vector<std::string>& options, const std::string& field) {
    MountOptions o;
    for (const auto& opt : options) {
        if (opt == "bind" || opt == "rbind") {
            o.bind = true;
            o.recursive = o.recursive || opt == "rbind";
            continue;
        }
        if (opt == "remount") {
            o.remount = true;
            continue;
        }
        if (opt == "idmap" || opt == "ridmap") continue;  // prepare_idmapped_mounts reads them
        if (opt == "tmpcopyup" || opt == "copy-symlink" || opt == "src-nofollow")
            throw Error::usage("config.json: " + field + ".options: \"" + opt + "\" (a crun extension) is not supported");
        auto attr = [](const std::string& name) {
            return std::find_if(std::begin(kAttrs), std::end(kAttrs), [&](const Flag& x) { return name == x.name; });
        };
        // An attribute's bits replace the earlier ones of its kind (the atime modes are one kind).
        auto merge = [](const Flag& a, unsigned long long& set, unsigned long long& clear) {
            set = (set & ~a.clear) | a.set;
            clear = (clear & ~a.set) | a.clear;
        };
        if (auto a = attr(opt); a != std::end(kAttrs)) {
            merge(*a, o.attr_set, o.attr_clear);
            continue;
        }
        auto p = std::find_if(std::begin(kProps), std::end(kProps), [&](const Prop& x) { return opt == x.name; });
        if (p != std::end(kProps)) {
            o.propagation = p->type;
            o.propagation_recursive = p->recursive;
            continue;
        }
        // runc's recursive attributes (mount_setattr with AT_RECURSIVE): "rro", "rnosuid", ...
        if (opt.size() > 1 && opt[0] == 'r') {
            if (auto a = attr(opt.substr(1)); a != std::end(kAttrs) && (a->set || a->clear)) {
                merge(*a, o.rec_set, o.rec_clear);
                continue;
            }
        }
        if (std::find_if(std::begin(kSuperblockFlags), std::end(kSuperblockFlags),
                         [&](const char* x) { return opt == x; }) != std::end(kSuperblockFlags)) {
            if (opt == "sync" || opt == "dirsync" || opt == "lazytime" || opt == "mand")
                o.data.push_back(opt);  // fsconfig flags of the same name
            continue;
        }
        o.data.push_back(opt);
    }
    // An atime mode is set by clearing the whole atime field (mech::set_attrs does): what is
    // left to clear is the other attributes.
    o.attr_clear &= ~o.attr_set;
    o.rec_clear &= ~o.rec_set;
    return o;
}

bool build_rootfs(const RootfsPlan& plan, Failure& f) {
    const Spec& s = *plan.spec;
    // Nothing done here may propagate back to the host's namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) return f.set("make mounts slave", "/");
    if (!write_sysctls(s, f)) return false;

    kernel::Fd root(kernel::open_tree(AT_FDCWD, plan.rootfs.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (!root) return f.set("open rootfs", plan.rootfs.c_str());
    if (kernel::move_mount(root.get(), "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0) return f.set("attach rootfs", plan.rootfs.c_str());

    for (size_t i = 0; i < s.mounts.size(); ++i) {
        const Mount& m = s.mounts[i];
        MountOptions o;
        try {
            o = parse_mount_options(m.options, "mounts[" + std::to_string(i) + "]");
        } catch (const Error& e) {
            return f.set("mount options", e.what(), EINVAL);
        }
        bool ok = (o.bind || m.type == "bind") ? bind_mount(root.get(), plan, i, o, f) : typed_mount(root.get(), plan, m, o, f);
        if (!ok) return false;
    }
    if (!make_devices(root.get(), plan, f)) return false;
    if (!mech::mask_paths(root.get(), s.linux_.masked_paths, s.linux_.readonly_paths, f)) return false;

    if (plan.before_pivot && !plan.before_pivot()) return true;  // the caller reports it
    return mech::enter_new_root(root.get(), plan.no_pivot, plan.rootfs.c_str(), f);
}

bool finish_rootfs(const RootfsPlan& plan, Failure& f) {
    const Spec& s = *plan.spec;
    if (!s.linux_.rootfs_propagation.empty()) {
        auto p = std::find_if(std::begin(kProps), std::end(kProps),
                              [&](const Prop& x) { return s.linux_.rootfs_propagation == x.name; });
        mount_attr attr{};
        attr.propagation = p->type;
        if (kernel::mount_setattr(AT_FDCWD, "/", p->recursive ? AT_RECURSIVE : 0, &attr) < 0)
            return f.set("set rootfs propagation", s.linux_.rootfs_propagation.c_str());
    }
    if (s.root_readonly) {
        mount_attr attr{};
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (kernel::mount_setattr(AT_FDCWD, "/", 0, &attr) < 0) return f.set("make rootfs read-only", "/");
    }
    return true;
}

}  // namespace caisson::oci
