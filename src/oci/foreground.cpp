#include "oci/foreground.hpp"

#include "mech/fd_passing.hpp"
#include "mech/unix_socket.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace caisson::oci {
namespace {

// Writes all of `n` bytes, or gives up on an error (the reader is gone).
void write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= static_cast<size_t>(w);
    }
}

// The caller's terminal in raw mode for as long as the relay runs, as runc sets it.
class RawMode {
public:
    RawMode() {
        if (::tcgetattr(0, &saved_) != 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
    }
    ~RawMode() {
        if (active_) ::tcsetattr(0, TCSANOW, &saved_);
    }

private:
    termios saved_{};
    bool active_ = false;
};

}  // namespace

ForegroundTerminal::ForegroundTerminal() {
    char tmpl[] = "/tmp/caisson-oci-tty-XXXXXX";
    if (!::mkdtemp(tmpl)) throw Error(ErrorKind::Setup, "mkdtemp", "/tmp/caisson-oci-tty-XXXXXX", errno);
    dir_ = tmpl;
    path_ = dir_ + "/console.sock";
    listener_ = mech::listen_unix(path_, "listen for the pty");
}

ForegroundTerminal::~ForegroundTerminal() {
    listener_.reset();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
}

void ForegroundTerminal::receive_master() {
    kernel::Fd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) throw Error(ErrorKind::Setup, "accept", "the container's pty", errno);
    char name[4096];  // the console socket protocol's payload: the pty's name
    int fd = -1;
    size_t nfds = 1;
    if (mech::recv_with_fds(conn.get(), name, sizeof(name), &fd, &nfds) < 0)
        throw Error(ErrorKind::Setup, "receive", "the container's pty", errno);
    if (nfds != 1) throw Error(ErrorKind::Setup, "receive", "the container's pty", EPROTO);
    master_.reset(fd);
}

int ForegroundTerminal::relay(pid_t pid, const sigset_t& forwarded) {
    kernel::Fd sfd(::signalfd(-1, &forwarded, SFD_CLOEXEC));
    if (!sfd) throw Error(ErrorKind::Setup, "signalfd", "terminal relay", errno);
    RawMode raw;
    auto resize = [&] {
        winsize ws{};
        if (::ioctl(0, TIOCGWINSZ, &ws) == 0) (void)::ioctl(master_.get(), TIOCSWINSZ, &ws);
    };
    resize();
    bool stdin_open = true;
    bool master_open = true;  // until the last holder of the terminal's other side closes it
    int status = 0;
    // The caller's input waits here while the process does not read it: the pty is written
    // without blocking, so that signals are still forwarded meanwhile.
    std::string to_pty;
    constexpr size_t kMaxPending = 64 * 1024;
    int flags = ::fcntl(master_.get(), F_GETFL);
    if (flags < 0 || ::fcntl(master_.get(), F_SETFL, flags | O_NONBLOCK) < 0)
        throw Error(ErrorKind::Setup, "fcntl", "the container's pty", errno);
    for (;;) {
        short master_events = static_cast<short>(POLLIN | (to_pty.empty() ? 0 : POLLOUT));
        bool take_input = stdin_open && to_pty.size() < kMaxPending;
        pollfd p[3] = {{sfd.get(), POLLIN, 0}, {master_open ? master_.get() : -1, master_events, 0}, {take_input ? 0 : -1, POLLIN, 0}};
        if (::poll(p, 3, -1) < 0) {
            if (errno == EINTR) continue;
            throw Error(ErrorKind::Setup, "poll", "terminal relay", errno);
        }
        char buf[4096];
        if (p[1].revents & (POLLOUT)) {
            ssize_t n = ::write(master_.get(), to_pty.data(), to_pty.size());
            if (n > 0) to_pty.erase(0, static_cast<size_t>(n));
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = ::read(master_.get(), buf, sizeof(buf));
            if (n > 0) write_all(1, buf, static_cast<size_t>(n));
            // EIO: hung up; polling on would spin.
            else if (n == 0 || (errno != EINTR && errno != EAGAIN)) master_open = false, to_pty.clear();
        }
        if (p[2].revents) {
            ssize_t n = ::read(0, buf, sizeof(buf));
            if (n > 0) to_pty.append(buf, static_cast<size_t>(n));
            else stdin_open = false;  // the caller's input ended; the process keeps its terminal
        }
        if (p[0].revents) {
            signalfd_siginfo si{};
            if (::read(sfd.get(), &si, sizeof(si)) != sizeof(si)) continue;
            if (si.ssi_signo == SIGWINCH) resize();
            else if (si.ssi_signo != SIGCHLD) ::kill(pid, static_cast<int>(si.ssi_signo));
            else if (::waitpid(pid, &status, WNOHANG) == pid) break;
        }
    }
    // What the process wrote before it ended.
    char buf[4096];
    ssize_t n;
    while ((n = ::read(master_.get(), buf, sizeof(buf))) > 0) write_all(1, buf, static_cast<size_t>(n));
    return status;
}

}  // namespace caisson::oci
