// The host's side of `caisson run --vm --net user`: passt (pasta's twin in Debian's passt
// package, which serves a virtual machine instead of a namespace) carries the frames of the
// guest's network device through ordinary sockets of the host, on a socket whose other end
// qemu holds. passt alone touches the host's network: qemu's jail has none. passt confines
// itself (namespaces of its own but the network, no capabilities, a seccomp filter of its own;
// started as root it becomes nobody), and dies with caisson (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace caisson::mech {

// passt's path: $CAISSON_PASST, else the first `passt` on PATH; "" when there is none.
std::string find_passt();

// The descriptor number passt is given its socket at (its argv says --fd with it).
inline constexpr int kPasstFd = 3;

class Passt {
public:
    // Starts `argv` with `socket` at kPasstFd, /dev/null as stdin and stdout, `stderr_fd` as
    // stderr (where passt says why it failed). Throws caisson::Error.
    Passt(const std::vector<std::string>& argv, int socket, int stderr_fd);
    ~Passt();  // killed and reaped
    Passt(const Passt&) = delete;
    Passt& operator=(const Passt&) = delete;
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
};

}  // namespace caisson::mech
