// --net user: pasta (Debian's passt package) gives the sandbox's network namespace a tap
// interface with the host's addresses and routes, and carries its TCP, UDP and ICMP through
// ordinary sockets of the host: no privilege, no bridge, no NAT table. caisson runs it as a
// child that dies with the supervisor (PR_SET_PDEATHSIG), and closes every way it has to
// reach the host itself: no gateway mapping to the host's loopback, no forwarding of the
// namespace's loopback ports to the host's (-T none -U none), no automatic port publishing.
#pragma once

#include "kernel/failure.hpp"
#include "mech/cgroup.hpp"

#include <caisson/policy.hpp>

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace caisson::mech {

// A program's path: $variable, else the first `name` on PATH; "" when there is none.
std::string find_program(const char* name, const char* variable);
// pasta's path: $CAISSON_PASTA, else the first `pasta` on PATH; "" when there is none.
std::string find_pasta();

// Why pasta, run by this caller, could not open /dev/net/tun, in one line with the fix; ""
// when it can. The kernel's own test for an ordinary user's pasta (in its user namespace,
// a device of the host's is opened on the host's permission bits): access(2) as the real
// uid. Root's pasta opens it whatever its mode.
std::string tun_unusable(uid_t caller);

// The descriptors pasta finds the sandbox's namespaces on: opened by the supervisor, which
// may (pasta, having dropped its capabilities, might not: the sandbox's init is not yet of
// one uid when pasta starts), and inherited at these numbers.
inline constexpr int kPastaUsernsFd = 3;
inline constexpr int kPastaNetnsFd = 4;
// The sandbox's interface under --net user.
inline constexpr const char* kNsIfname = "eth0";
// Its hardware address (locally administered, unicast), which pasta sets and addresses.
inline constexpr const char* kNsMac = "02:ca:15:50:00:02";

// Pure: pasta's command line.
std::vector<std::string> pasta_argv(const std::string& pasta, const Network& net, bool as_root, const std::string& ready_fifo);

// Debian 12's pasta (2023-03) advertises to the sandbox the window of the host's peer, not
// what its own socket toward that peer can take. A sender in the sandbox bursts megabytes into
// the tap; pasta drops what its socket refuses, and each drop costs the sender a retransmission
// timeout (200 ms, then doubled): 28 MiB/s where the same transfer bare runs at 2 GiB/s. The
// hop from the sandbox to pasta is local (tens of microseconds), so a send buffer of 256 KiB
// keeps it full, and pasta's socket, growing to the host's tcp_wmem, takes every burst.
inline constexpr long kPastaSendBufferCap = 256 * 1024;

// Pure: net.ipv4.tcp_wmem's three values (min, default, max) each held to `cap`, their order
// kept; false when they already are.
bool cap_tcp_wmem(const long in[3], long cap, long out[3]);
// The same on the file's text; "" when nothing changes or `current` is not three numbers.
std::string capped_tcp_wmem(const std::string& current, long cap);

// In the sandbox's init, in its network namespace: its tcp_wmem read beneath `proc` (a
// checked procfs root, mech/procfs_root.hpp), capped and written back. A new namespace
// starts from the initial one's values, not this process's: so they are read where they
// apply. No allocation (init's steps). False with `f` set.
bool cap_own_tcp_wmem(int proc, long cap, kernel::Failure& f);

class PastaLink {
public:
    // Returns once pasta has configured the namespace. Throws caisson::Error with pasta's
    // own message when it fails.
    PastaLink(const Network& net, pid_t sandbox_pid, bool as_root);
    ~PastaLink();
    PastaLink(const PastaLink&) = delete;
    PastaLink& operator=(const PastaLink&) = delete;
    pid_t pid() const { return pid_; }  // pasta's process, which carries the sandbox's traffic
    // Whether pasta's binds of host ports it was not given are made ephemeral
    // (filter/bind_program): as root, where a cgroup v2 hierarchy is mounted.
    bool binds_ephemeral() const { return cgroup_ != nullptr; }

private:
    // pasta's own cgroup v2 directory with the bind hooks; declared first, so that it goes
    // after pasta, which the destructor's body ends and reaps.
    std::unique_ptr<SandboxCgroup> cgroup_;
    pid_t pid_ = -1;
};

}  // namespace caisson::mech
