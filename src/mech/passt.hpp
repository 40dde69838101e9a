// passt, pasta's twin in Debian's passt package, which serves a virtual machine instead of a
// namespace: it carries the frames of the guest's network device through ordinary sockets of
// the host, on a socket whose other end qemu holds (`caisson run --vm --net user`; run/vm_passt
// starts it, confined, with mech::fork_tethered). passt confines itself too (namespaces of its
// own but the network, no capabilities, a seccomp filter of its own; started as root it
// becomes nobody).
#pragma once

#include <string>

namespace caisson::mech {

// passt's path: $CAISSON_PASST, else the first `passt` on PATH; "" when there is none.
std::string find_passt();

// The descriptor number passt is given its socket at (its argv says --fd with it).
inline constexpr int kPasstFd = 3;

}  // namespace caisson::mech
