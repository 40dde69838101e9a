#include "mech/loopback.hpp"

#include "kernel/fd.hpp"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

namespace caisson::mech {

bool bring_up_loopback(kernel::Failure& f) {
    // One ioctl pair is cheaper than a netlink round trip for a single flag.
    kernel::Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return f.set("socket for loopback", "lo");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return f.set("read interface flags", "lo");
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) return f.set("bring interface up", "lo");
    return true;
}

}  // namespace caisson::mech
