#include "oci/terminal.hpp"

#include "kernel/fd.hpp"
#include "mech/fd_passing.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

namespace caisson::oci {

bool setup_terminal(int console_socket, const Process& p, run::Failure& f) {
    kernel::Fd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) return f.set("open", "/dev/ptmx (process.terminal needs a devpts mount)");
    int unlock = 0;
    if (::ioctl(master.get(), TIOCSPTLCK, &unlock) < 0) return f.set("unlock pty", "/dev/ptmx");
    // The peer by descriptor, never by a name the container could swap.
    kernel::Fd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) return f.set("open pty peer", "/dev/ptmx");
    if (p.console_size) {
        winsize ws{};
        ws.ws_row = static_cast<unsigned short>(p.console_size->first);
        ws.ws_col = static_cast<unsigned short>(p.console_size->second);
        if (::ioctl(slave.get(), TIOCSWINSZ, &ws) < 0) return f.set("set console size", "process.consoleSize");
    }
    if (::fchown(slave.get(), p.user.uid, p.user.gid) < 0) return f.set("chown pty", "process.user");
    static const char kName[] = "/dev/ptmx";
    int fd = master.get();
    if (!mech::send_with_fds(console_socket, kName, sizeof(kName) - 1, &fd, 1)) return f.set("send pty master", "--console-socket");
    if (::ioctl(slave.get(), TIOCSCTTY, 0) < 0) return f.set("set controlling terminal", "pty");
    for (int i = 0; i < 3; ++i)
        if (::dup2(slave.get(), i) < 0) return f.set("dup2", "pty");
    return true;
}

}  // namespace caisson::oci
