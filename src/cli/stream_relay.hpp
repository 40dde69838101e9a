// The bytes of a connection, carried between the socket `caisson listen` accepted and the
// sandbox's end of a socket pair. A socket accepted in the host's network namespace belongs
// to it whatever process holds it: given to the program, it can be disconnected (connect
// with AF_UNSPEC) and connected again anywhere the host reaches, past the sandbox's
// network namespace, its egress rules and every connect hook keyed on its own cgroup.
// So the program is given a stream of its own, and this process, outside, copies.
#pragma once

#include <caisson/policy.hpp>

#include <sys/types.h>

namespace caisson::cli {

// Forks a process that copies between `outside` and `inside` both ways until both
// directions end, and returns its pid (the caller closes both descriptors afterwards; the
// relay keeps its copies). It dies with its parent. Each direction ends when its reader
// sees the end (the other side's writing half is then shut), or when its writer's peer is
// gone (the reading side is then shut, so that the program's writes fail as they would on
// the socket); the inside one also ends when nothing holds the sandbox's end any more.
// Unless `owns_outside`, the outside socket is a caller's, put back after the run: it is
// never made non-blocking, and shut only to pass on the program's own half-close.
// -1 with errno on failure.
pid_t start_stream_relay(int outside, int inside, bool owns_outside = true);

// Whether a socket made outside the sandbox would reach past its network rules: the
// sandbox has a network namespace of its own, or rules the kernel keys on the socket's
// cgroup (egress, the BPF LSM's connect ports).
bool network_is_confined(const Policy& p);

// Waits up to `timeout_ms` for the relay to carry what it holds, then kills it; reaps it.
void finish_stream_relay(pid_t relay, int timeout_ms);

}  // namespace caisson::cli

#include <vector>

namespace caisson::cli {

// caisson run started by an inetd (xinetd, a systemd socket unit with Accept=yes) has the
// connection as its stdin and stdout: for a sandbox in a network namespace of its own, each
// connected TCP socket among 0, 1 and 2 is replaced, for the run, by a stream of the
// sandbox's own, relayed as `caisson listen` does; the socket is put back at the end, after
// the relay carried what the program wrote. Any other socket of the caller's network there
// (a listening or unconnected one, UDP, netlink, packet; an AF_UNIX datagram socket or an
// unconnected one, which can name the abstract sockets of that network) is refused with
// Error::usage: the program could send anywhere from it. Nothing is done for a sandbox whose
// network is not confined (network_is_confined). The copies kept of the sockets go above
// every `pass_fds` number.
class StdioRelay {
public:
    StdioRelay(bool confined, const std::vector<int>& pass_fds);
    ~StdioRelay();
    StdioRelay(const StdioRelay&) = delete;
    StdioRelay& operator=(const StdioRelay&) = delete;

private:
    void put_back() noexcept;
    struct Replaced {
        int fd;        // 0, 1 or 2
        int original;  // a copy of the socket, put back at the end
    };
    std::vector<Replaced> replaced_;
    std::vector<pid_t> relays_;
};

}  // namespace caisson::cli
