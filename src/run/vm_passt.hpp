// The host's side of `caisson run --vm --net user`: passt (mech/passt) in a cgroup v2
// directory of its own, with caisson's egress filter attached before passt runs
// (policy::vm::passt_egress: no connection or datagram to the host's loopback or unspecified
// addresses). passt sends whatever the guest addresses; a guest kernel of the program's
// making could address 127.0.0.1, and the filter is what keeps it off the host's loopback.
// Root only: the filter is cgroup BPF.
//
// A keeper process holds passt and its cgroup: it gets SIGTERM when caisson ends, however
// caisson ends (PR_SET_PDEATHSIG), and then kills passt and removes the cgroup, as each
// jail's supervisor does for qemu and the file server; it ends too when passt ends.
#pragma once

#include "kernel/fd.hpp"

#include <sys/types.h>

namespace caisson::run {

class GuestNetwork {
public:
    // passt on `socket` (the other end is qemu's), saying why it failed on `stderr_fd`.
    // Throws caisson::Error: usage when not root or without a cgroup v2 hierarchy.
    GuestNetwork(int socket, int stderr_fd);
    ~GuestNetwork();  // the keeper told to end, and waited for
    GuestNetwork(const GuestNetwork&) = delete;
    GuestNetwork& operator=(const GuestNetwork&) = delete;
    // Readable once the keeper has ended: passt ended (or could not start).
    int pidfd() const { return pidfd_.get(); }

private:
    pid_t keeper_ = -1;
    kernel::Fd pidfd_;
};

}  // namespace caisson::run
