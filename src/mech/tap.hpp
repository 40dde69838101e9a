// A tap device made ahead of its user, persistent. pasta (--net user) makes its tap in the
// sandbox's network namespace when it starts, and the device then lives as long as pasta's
// descriptor: closing it unregisters the device on the spot, and the kernel waits there for
// RCU grace periods, 15 to 35 ms on this machine (python, one unshared namespace: close of a
// tap pasta-style 15.6-35.2 ms, of a persistent one 0.01-0.13 ms). caisson waited those out
// after every --net user run. A persistent device that pasta attaches to instead is left
// when pasta's descriptor closes, and goes with the namespace, which the kernel takes down
// in the background, with every other device in it, as it does for --net none.
#pragma once

#include "kernel/failure.hpp"

#include <sys/types.h>

namespace caisson::mech {

// Makes the tap device `name` (IFF_TAP | IFF_NO_PI, as pasta asks) in the network namespace
// `netns_fd`, entering the user namespace `userns_fd` first when it is not -1 (an ordinary
// user's supervisor may enter the sandbox's network namespace only from its own user
// namespace), persistent and owned by the caller's effective user. The owner is no wall
// against the program: an ordinary user's program is that user to the kernel. What keeps the
// program off the device is that pasta holds its one queue (a second attach gets EBUSY) and
// that the sandbox's /dev has no net/tun; were pasta to die mid-run, a program given
// /dev/net/tun could attach to its own eth0, a device of its own namespace, and reach no
// further. A copy of this process made by clone does it (entering a user namespace is for a
// process of one thread). Throws caisson::Error naming the step.
void make_persistent_tap(int userns_fd, int netns_fd, const char* name);

}  // namespace caisson::mech

namespace caisson::mech {

// In the namespace, once pasta has attached and raised the device: its link state made
// current. Detached when its maker closed, attached again by pasta, the device has two
// carrier changes the kernel applies to its state up to a second later (at most one such
// round a second, for every device of the host), and meanwhile shows the program a link
// that is down (`operstate`, no IFF_RUNNING). Asking for the link (ETHTOOL_GLINK) applies
// them at once. No allocation (init's steps).
bool settle_link_state(const char* name, kernel::Failure& f);

}  // namespace caisson::mech
