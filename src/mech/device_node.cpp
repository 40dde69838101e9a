#include "mech/device_node.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/mount_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {

int open_host_device(const char* host_path, const DeviceSpec& d, kernel::Failure& f) {
    // Symlinks are followed (/dev/rtc, /dev/disk/by-id/...): what is checked is the node the
    // clone holds, so no swap between the check and the bind can matter.
    kernel::Fd node(kernel::open_tree(AT_FDCWD, host_path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!node) return f.set("clone device node", host_path), -1;
    struct stat st{};
    if (::fstat(node.get(), &st) < 0) return f.set("stat device node", host_path), -1;
    const bool kind = d.type == 'b' ? S_ISBLK(st.st_mode) : S_ISCHR(st.st_mode);
    if (!kind || major(st.st_rdev) != static_cast<unsigned>(d.major) || minor(st.st_rdev) != static_cast<unsigned>(d.minor))
        return f.set("host device is another file", host_path, ENODEV), -1;
    // Device nodes must open (no nodev) but never grant setuid or exec.
    if (set_attrs(node.get(), MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NODEV, false) < 0)
        return f.set("set device node attributes", host_path), -1;
    return node.release();
}

bool place_host_device(int dir, const char* name, int node, const char* what, kernel::Failure& f) {
    kernel::Fd file(::openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666));
    if (!file) return f.set("create device file", what);
    if (kernel::move_mount(node, "", dir, name, MOVE_MOUNT_F_EMPTY_PATH) < 0) return f.set("bind device node", what);
    return true;
}

bool make_device_node(int dir, const char* name, const DeviceSpec& d, mode_t mode, std::optional<uid_t> uid,
                      std::optional<gid_t> gid, const char* what, kernel::Failure& f) {
    mode_t kind = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
    dev_t dev = d.type == 'p' ? 0 : makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
    if (::mknodat(dir, name, kind | (mode & 07777), dev) < 0) return f.set("mknod", what);
    // The umask took bits from mknod's mode.
    if (::fchmodat(dir, name, mode & 07777, 0) < 0) return f.set("chmod device", what);
    if ((uid || gid) && ::fchownat(dir, name, uid.value_or(0), gid.value_or(0), AT_SYMLINK_NOFOLLOW) < 0)
        return f.set("chown device", what);
    return true;
}

}  // namespace caisson::mech
