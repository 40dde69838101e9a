#include "mech/console.hpp"

#include "mech/checked_open.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/fd_passing.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

namespace caisson::mech {

bool open_console(int console_socket, const ConsoleSpec& c, kernel::Failure& f) {
    // The pty multiplexer (5:2) and nothing else: an image's /dev can hold any node, and the
    // device cgroup does not apply yet at create.
    kernel::Fd here(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!here) return f.set("open root", "/");
    kernel::Fd master(open_checked(here.get(), "dev/ptmx", O_RDWR, [](const struct stat& st) {
        return S_ISCHR(st.st_mode) && major(st.st_rdev) == 5 && minor(st.st_rdev) == 2;
    }));
    if (!master) return f.set("open", "/dev/ptmx (process.terminal needs a devpts mount, whose ptmx is 5:2)");
    int unlock = 0;
    if (::ioctl(master.get(), TIOCSPTLCK, &unlock) < 0) return f.set("unlock pty", "/dev/ptmx");
    // The peer by descriptor, never by a name the container could swap.
    kernel::Fd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) return f.set("open pty peer", "/dev/ptmx");
    if (c.size) {
        winsize ws{};
        ws.ws_row = static_cast<unsigned short>(c.size->first);
        ws.ws_col = static_cast<unsigned short>(c.size->second);
        if (::ioctl(slave.get(), TIOCSWINSZ, &ws) < 0) return f.set("set console size", "process.consoleSize");
    }
    if (::fchown(slave.get(), c.uid, c.gid) < 0) return f.set("chown pty", "process.user");
    if (c.bind_dev_console) {
        // The container's /dev/console is its terminal (runtime-spec): a bind of the pty, by
        // descriptor, onto a file of /dev inside the root: made new, or an existing file or
        // device, never through a symlink the image put there.
        kernel::Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root) return f.set("open root", "/");
        kernel::Fd dev(kernel::openat2(root.get(), "dev", O_PATH | O_DIRECTORY | O_CLOEXEC,
                                       RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS));
        if (!dev) return f.set("open", "/dev (for /dev/console)");
        kernel::Fd made(::openat(dev.get(), "console", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!made && errno != EEXIST) return f.set("create", "/dev/console");
        kernel::Fd target(::openat(dev.get(), "console", O_PATH | O_NOFOLLOW | O_CLOEXEC));
        struct stat st{};
        if (!target || ::fstat(target.get(), &st) < 0) return f.set("open", "/dev/console");
        if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) return f.set("bind over", "/dev/console (not a file or a device)", EINVAL);
        kernel::Fd tree(kernel::open_tree(slave.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
        if (!tree) return f.set("open_tree", "the pty, for /dev/console");
        if (kernel::move_mount(tree.get(), "", target.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            return f.set("bind", "/dev/console");
    }
    static const char kName[] = "/dev/ptmx";
    int fd = master.get();
    if (!send_with_fds(console_socket, kName, sizeof(kName) - 1, &fd, 1)) return f.set("send pty master", "--console-socket");
    if (c.controlling && !take_controlling_terminal(slave.get(), f)) return false;
    for (int i = 0; i < 3; ++i)
        if (::dup2(slave.get(), i) < 0) return f.set("dup2", "pty");
    return true;
}

bool take_controlling_terminal(int fd, kernel::Failure& f) {
    if (::ioctl(fd, TIOCSCTTY, 0) < 0) return f.set("set controlling terminal", "pty");
    return true;
}

}  // namespace caisson::mech
