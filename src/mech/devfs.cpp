#include "mech/devfs.hpp"

#include "kernel/fd.hpp"
#include "mech/device_node.hpp"
#include "mech/mount_util.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace caisson::mech {
namespace {

constexpr const char* kNodes[kDevNodeCount] = {"null", "zero", "full", "random", "urandom", "tty"};
constexpr const char* kHostNodes[kDevNodeCount] = {"/dev/null", "/dev/zero", "/dev/full",
                                                   "/dev/random", "/dev/urandom", "/dev/tty"};
constexpr DeviceSpec kNodeDevices[kDevNodeCount] = {{'c', 1, 3}, {'c', 1, 5}, {'c', 1, 7}, {'c', 1, 8}, {'c', 1, 9}, {'c', 5, 0}};

struct Link {
    const char* target;
    const char* name;
};
constexpr Link kLinks[] = {{"pts/ptmx", "ptmx"},        {"/proc/self/fd", "fd"},
                           {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
                           {"/proc/self/fd/2", "stderr"}};

}  // namespace

DevSources::~DevSources() {
    for (int& fd : nodes)
        if (fd >= 0) ::close(fd);
    for (int& fd : extra)
        if (fd >= 0) ::close(fd);
}

bool open_dev_sources(DevSources& src, const ExtraDevNode* extra, int n_extra, kernel::Failure& f) {
    for (int i = 0; i < kDevNodeCount; ++i) {
        src.nodes[i] = open_host_device(kHostNodes[i], kNodeDevices[i], f);
        if (src.nodes[i] < 0) return false;
    }
    if (n_extra > kMaxExtraDevNodes) return f.set("devices for /dev", "more than four", E2BIG);
    for (int i = 0; i < n_extra; ++i) {
        // A plain name: /dev/NAME on the host, NAME in the sandbox's /dev.
        char path[64];
        const char* name = extra[i].name;
        if (!name || !*name || std::strchr(name, '/') || std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0 ||
            std::snprintf(path, sizeof path, "/dev/%s", name) >= static_cast<int>(sizeof path))
            return f.set("a device for /dev", name ? name : "(none)", EINVAL);
        const DeviceSpec spec{'c', extra[i].major, extra[i].minor};
        src.extra[i] = open_host_device(path, spec, f);
        if (src.extra[i] < 0) return false;
        src.extra_nodes[i] = extra[i];
        src.n_extra = i + 1;
    }
    return true;
}

bool build_dev(int root, DevSources& src, kernel::Failure& f) {
    kernel::Fd target(open_in_root(root, "/dev", O_PATH | O_DIRECTORY));
    if (!target) return f.set("open /dev mountpoint", "/dev");
    static constexpr const char* kOpts[] = {"mode=0755", "size=64k", "nr_inodes=64", nullptr};
    kernel::Fd dev(new_fs("tmpfs", kOpts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC));
    if (!dev) return f.set("mount /dev tmpfs", "/dev");
    if (attach(dev.get(), target.get()) < 0) return f.set("attach /dev", "/dev");

    for (int i = 0; i < kDevNodeCount; ++i)
        if (!place_host_device(dev.get(), kNodes[i], src.nodes[i], kHostNodes[i], f)) return false;
    for (int i = 0; i < src.n_extra; ++i) {
        for (const char* taken : kNodes)
            if (std::strcmp(taken, src.extra_nodes[i].name) == 0) return f.set("a device for /dev", taken, EEXIST);
        if (!place_host_device(dev.get(), src.extra_nodes[i].name, src.extra[i], src.extra_nodes[i].name, f)) return false;
    }

    if (::mkdirat(dev.get(), "pts", 0755) < 0) return f.set("mkdir", "/dev/pts");
    static constexpr const char* kPtsOpts[] = {"newinstance", "ptmxmode=0666", "mode=0620", nullptr};
    kernel::Fd pts(new_fs("devpts", kPtsOpts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC));
    if (!pts) return f.set("mount devpts", "/dev/pts");
    if (kernel::move_mount(pts.get(), "", dev.get(), "pts", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return f.set("attach devpts", "/dev/pts");

    if (::mkdirat(dev.get(), "shm", 01777) < 0) return f.set("mkdir", "/dev/shm");
    static constexpr const char* kShmOpts[] = {"mode=1777", "size=64m", nullptr};
    kernel::Fd shm(new_fs("tmpfs", kShmOpts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    if (!shm) return f.set("mount tmpfs", "/dev/shm");
    if (kernel::move_mount(shm.get(), "", dev.get(), "shm", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return f.set("attach tmpfs", "/dev/shm");

    for (const auto& l : kLinks) {
        if (::symlinkat(l.target, dev.get(), l.name) < 0) return f.set("symlink in /dev", l.name);
    }
    // Nothing needs to create entries in /dev itself once it is populated.
    if (set_attrs(dev.get(), MOUNT_ATTR_RDONLY, 0, false) < 0) return f.set("make /dev read-only", "/dev");
    return true;
}

}  // namespace caisson::mech
