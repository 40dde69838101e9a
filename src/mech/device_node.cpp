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
    // Onto the file just made, by its descriptor: never onto whatever the name holds by then.
    if (kernel::move_mount(node, "", file.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return f.set("bind device node", what);
    return true;
}

bool make_device_node(int dir, const char* name, const DeviceSpec& d, mode_t mode, std::optional<uid_t> uid,
                      std::optional<gid_t> gid, const char* what, kernel::Failure& f) {
    mode_t kind = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
    dev_t dev = d.type == 'p' ? 0 : makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
    // The mode exactly as asked, with no umask taken off: no chmod by name afterwards, which
    // would follow a link put in the node's place.
    mode_t old_umask = ::umask(0);
    int made = ::mknodat(dir, name, kind | (mode & 07777), dev);
    ::umask(old_umask);
    if (made < 0) return f.set("mknod", what);
    if (uid || gid) {
        // The owner on the node by descriptor, checked to be the node made.
        kernel::Fd node(::openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
        struct stat st{};
        if (!node || ::fstat(node.get(), &st) < 0) return f.set("open device", what);
        if ((st.st_mode & S_IFMT) != kind || (d.type != 'p' && st.st_rdev != dev)) return f.set("device replaced", what, EEXIST);
        if (::fchownat(node.get(), "", uid.value_or(0), gid.value_or(0), AT_EMPTY_PATH) < 0) return f.set("chown device", what);
    }
    return true;
}

}  // namespace caisson::mech
