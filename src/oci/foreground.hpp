// runc's foreground terminal: `run` or `exec` of a process with a terminal and no console
// socket. The runtime takes the console socket's part itself: a private socket receives the
// pty's master, and the runtime relays it to its own stdin and stdout (the caller's terminal
// in raw mode, its window size passed on) until the process ends.
#pragma once

#include "kernel/fd.hpp"

#include <signal.h>
#include <sys/types.h>

#include <string>

namespace caisson::oci {

class ForegroundTerminal {
public:
    // A listening socket in a private directory. Throws caisson::Error.
    ForegroundTerminal();
    ~ForegroundTerminal();
    ForegroundTerminal(const ForegroundTerminal&) = delete;
    ForegroundTerminal& operator=(const ForegroundTerminal&) = delete;

    // For --console-socket: the container's init connects here and sends the master.
    const std::string& socket_path() const { return path_; }
    // Takes the master the init sent. Throws caisson::Error.
    void receive_master();
    // Relays until `pid` (a child of this process) ends; signals in `forwarded` (blocked,
    // SIGCHLD and SIGWINCH among them) go to it. Returns its wait status.
    int relay(pid_t pid, const sigset_t& forwarded);

private:
    std::string dir_, path_;
    kernel::Fd listener_, master_;
};

}  // namespace caisson::oci
