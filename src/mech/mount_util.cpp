#include "mech/mount_util.hpp"

#include "kernel/fd.hpp"

#include <cerrno>
#include <cstring>

namespace caisson::mech {

int new_fs(const char* type, const char* const* options, unsigned mount_attrs, const char* source) {
    kernel::Fd fs(kernel::fsopen(type, FSOPEN_CLOEXEC));
    if (!fs) return -1;
    if (kernel::fsconfig(fs.get(), FSCONFIG_SET_STRING, "source", source && *source ? source : type, 0) < 0) return -1;
    for (const char* const* o = options; o && *o; ++o) {
        char key[64];
        const char* eq = std::strchr(*o, '=');
        size_t klen = eq ? static_cast<size_t>(eq - *o) : std::strlen(*o);
        if (klen >= sizeof(key)) {
            errno = EINVAL;
            return -1;
        }
        std::memcpy(key, *o, klen);
        key[klen] = '\0';
        int rc = eq ? kernel::fsconfig(fs.get(), FSCONFIG_SET_STRING, key, eq + 1, 0)
                    : kernel::fsconfig(fs.get(), FSCONFIG_SET_FLAG, key, nullptr, 0);
        if (rc < 0) return -1;
    }
    if (kernel::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) return -1;
    return kernel::fsmount(fs.get(), FSMOUNT_CLOEXEC, mount_attrs);
}

int open_in_root(int root, const char* path, int flags) {
    while (*path == '/') ++path;
    if (!*path) path = ".";
    return kernel::openat2(root, path, static_cast<uint64_t>(flags) | O_CLOEXEC,
                           RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int attach(int mnt, int target) {
    return kernel::move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

int attach_clone(int mnt, int target) {
    kernel::Fd clone(kernel::open_tree(mnt, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
    if (!clone) return -1;
    return attach(clone.get(), target);
}

int set_attrs(int mnt, unsigned long long set, unsigned long long clear, bool recursive) {
    mount_attr attr{};
    attr.attr_set = set;
    attr.attr_clr = clear;
    // The kernel changes the atime mode only with the whole field cleared (else EINVAL).
    if ((set | clear) & MOUNT_ATTR__ATIME) attr.attr_clr |= MOUNT_ATTR__ATIME;
    return kernel::mount_setattr(mnt, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr);
}

}  // namespace caisson::mech
