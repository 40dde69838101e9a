#include "oci/terminal.hpp"

#include "kernel/fd.hpp"

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
    iovec iov{const_cast<char*>(kName), sizeof(kName) - 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int fd = master.get();
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (::sendmsg(console_socket, &msg, MSG_NOSIGNAL) < 0) return f.set("send pty master", "--console-socket");
    if (::ioctl(slave.get(), TIOCSCTTY, 0) < 0) return f.set("set controlling terminal", "pty");
    for (int i = 0; i < 3; ++i)
        if (::dup2(slave.get(), i) < 0) return f.set("dup2", "pty");
    return true;
}

}  // namespace caisson::oci
