#include "oci/rootfs.hpp"

#include "kernel/syscalls.hpp"

#include <caisson/error.hpp>

#include <sys/mount.h>

#include <algorithm>

namespace caisson::oci {
namespace {

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

struct DefaultDevice {
    const char* name;
    unsigned major, minor;
};
constexpr DefaultDevice kDefaultDevices[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
                                             {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};

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

mech::ListRootPlan plan_rootfs(const Spec& s, const RootfsSource& src) {
    mech::ListRootPlan plan;
    plan.rootfs = src.rootfs;
    for (size_t i = 0; i < s.mounts.size(); ++i) {
        const Mount& m = s.mounts[i];
        mech::ListedMount lm;
        lm.attrs = parse_mount_options(m.options, "mounts[" + std::to_string(i) + "]");
        lm.destination = m.destination;
        lm.type = lm.attrs.bind ? "bind" : m.type;
        // A bind's relative source is the bundle's; any other source is only a name.
        lm.source = lm.type == "bind" && (m.source.empty() || m.source[0] != '/') ? src.bundle + "/" + m.source : m.source;
        if (src.idmapped)
            if (auto made = src.idmapped->find(i); made != src.idmapped->end()) lm.idmapped_tree = made->second.get();
        plan.mounts.push_back(std::move(lm));
    }
    // runc's default devices, unless the config lists the same path; then the config's.
    for (const auto& d : kDefaultDevices) {
        std::string path = std::string("/dev/") + d.name;
        bool overridden = std::any_of(s.linux_.devices.begin(), s.linux_.devices.end(), [&](const Device& x) { return x.path == path; });
        if (!overridden) plan.devices.push_back({path, 'c', d.major, d.minor, 0666, std::nullopt, std::nullopt});
    }
    for (const auto& d : s.linux_.devices)
        plan.devices.push_back({d.path, d.type == "u" ? 'c' : d.type[0], d.major, d.minor, d.file_mode.value_or(0666), d.uid, d.gid});
    plan.masked = s.linux_.masked_paths;
    plan.readonly = s.linux_.readonly_paths;
    plan.userns = src.userns;
    plan.new_netns = src.new_netns;
    plan.no_pivot = src.no_pivot;
    if (!s.linux_.rootfs_propagation.empty()) {
        auto p = std::find_if(std::begin(kProps), std::end(kProps), [&](const Prop& x) { return s.linux_.rootfs_propagation == x.name; });
        if (p == std::end(kProps)) throw Error::usage("config.json: linux.rootfsPropagation: unknown mode \"" + s.linux_.rootfs_propagation + "\"");
        plan.root_propagation = p->type;
        plan.root_propagation_recursive = p->recursive;
    }
    plan.readonly_root = s.root_readonly;
    return plan;
}

}  // namespace caisson::oci
