#include "mech/tap.hpp"

#include "mech/clone.hpp"

#include "kernel/fd.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if.h>
#include <linux/sockios.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace caisson::mech {
namespace {

// The steps the child takes, in order; it reports the one that failed and its errno.
constexpr const char* kSteps[] = {"",
                                  "setns into the sandbox's user namespace",
                                  "setns into the sandbox's network namespace",
                                  "open /dev/net/tun",
                                  "TUNSETIFF",
                                  "TUNSETOWNER",
                                  "TUNSETPERSIST"};

// In the cloned child: system calls only (the parent may have threads). Returns 0, or the
// failed step with errno in *err.
int make_in_child(int userns_fd, int netns_fd, const char* name, int* err) {
    if (userns_fd >= 0 && ::setns(userns_fd, CLONE_NEWUSER) != 0) return *err = errno, 1;
    if (::setns(netns_fd, CLONE_NEWNET) != 0) return *err = errno, 2;
    int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return *err = errno, 3;
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (::ioctl(fd, TUNSETIFF, &ifr) != 0) return *err = errno, 4;
    // The owner is read in the namespace entered, where TUNSETOWNER reads it: the same user.
    if (::ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(::geteuid())) != 0) return *err = errno, 5;
    if (::ioctl(fd, TUNSETPERSIST, 1UL) != 0) return *err = errno, 6;
    return 0;  // the descriptor closes with the child: the device stays, detached
}

}  // namespace

void make_persistent_tap(int userns_fd, int netns_fd, const char* name) {
    const std::string what = std::string("the tap device ") + name + " in the sandbox's network namespace";
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw Error(ErrorKind::Setup, "--net user: pipe", what, errno);
    kernel::Fd r(p[0]), w(p[1]);
    struct Job {
        int userns_fd, netns_fd, out;
        const char* name;
    } job{userns_fd, netns_fd, w.get(), name};
    const int pidfd = clone_quiet(
        [](void* a) {
            const auto* j = static_cast<const Job*>(a);
            int said[2] = {0, 0};
            said[0] = make_in_child(j->userns_fd, j->netns_fd, j->name, &said[1]);
            return ::write(j->out, said, sizeof(said)) == static_cast<ssize_t>(sizeof(said)) ? 0 : 1;
        },
        &job);
    if (pidfd < 0) throw Error(ErrorKind::Setup, "--net user: clone", what, errno);
    w.reset();
    int said[2] = {0, 0};
    ssize_t n;
    do n = ::read(r.get(), said, sizeof(said));
    while (n < 0 && errno == EINTR);
    const int read_err = errno;
    const int status = wait_quiet(pidfd);
    if (status < 0 && errno != EIO) throw Error(ErrorKind::Setup, "--net user: waitid", what, errno);
    if (n != static_cast<ssize_t>(sizeof(said)) || status != 0)
        throw Error(ErrorKind::Setup, "--net user: the helper that makes it ended without a word", what, n < 0 ? read_err : EIO);
    if (said[0] != 0) {
        int step = said[0] > 0 && said[0] < static_cast<int>(std::size(kSteps)) ? said[0] : 0;
        throw Error(ErrorKind::Setup, std::string("--net user: ") + kSteps[step], what, said[1]);
    }
}

bool settle_link_state(const char* name, kernel::Failure& f) {
    kernel::Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return f.set("socket for the link state", name);
    ethtool_value link{};
    link.cmd = ETHTOOL_GLINK;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_data = reinterpret_cast<char*>(&link);
    if (::ioctl(sock.get(), SIOCETHTOOL, &ifr) < 0) return f.set("read the link state (ETHTOOL_GLINK)", name);
    return true;
}

}  // namespace caisson::mech
