#include "mech/ephemeral_binds.hpp"

#include "filter/bind_program.hpp"
#include "kernel/fd.hpp"
#include "mech/ebpf.hpp"

#include <caisson/error.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <string>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace caisson::mech {

void attach_ephemeral_binds(int cgroup_fd, const std::vector<bind_program::Kept>& kept) {
    // This namespace's cookie, as the programs' bpf_get_netns_cookie gives it.
    kernel::Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    uint64_t cookie = 0;
    socklen_t len = sizeof(cookie);
    if (!sock || ::getsockopt(sock.get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0)
        throw Error(ErrorKind::Setup, "read the network namespace's cookie (SO_NETNS_COOKIE)", "pasta's bind hooks", errno);
    for (const auto& [type, name] : {std::pair{BPF_CGROUP_INET4_BIND, "bind4"}, std::pair{BPF_CGROUP_INET6_BIND, "bind6"}}) {
        const std::string what = std::string("pasta's bind hook (") + name + ")";
        kernel::Fd prog = load_bpf_program(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, type,
                                           bind_program::ephemeral_binds(type == BPF_CGROUP_INET6_BIND, cookie, kept),
                                           "caisson_binds", what);
        attach_bpf_program(cgroup_fd, prog.get(), type, 0, what);
    }
}

}  // namespace caisson::mech
