// --net user inside caisson's VM guest: the guest's one network device (virtio-net, whose
// frames passt carries through the host's sockets) is moved into the sandbox's network
// namespace and given the address, route and MTU passt was told, as pasta configures its
// tap under --net user on a host. The guest's own namespace keeps only its loopback: the
// device is the program's alone, and nothing of the guest's (its init, caisson) is on it.
#pragma once

#include <sys/types.h>

#include <string>

namespace caisson::mech {

struct GuestNic {
    std::string name = "eth0";
    std::string address;   // dotted IPv4
    int prefix = 24;
    std::string gateway;   // dotted IPv4
    int mtu = 1500;
};

// Moves `nic` from this network namespace into `sandbox_pid`'s and configures it there: up,
// its address, its MTU, a default route through its gateway. Throws caisson::Error naming
// the step.
void give_guest_nic(const GuestNic& nic, pid_t sandbox_pid);

}  // namespace caisson::mech
