// The bind hooks of pasta's cgroup (--net user as root). This pasta is a full-cone NAT that
// keeps ports: a datagram from the sandbox's port P makes it bind P on every address of the
// host, so the program in the sandbox chose host ports (1024 and up): it took them from the
// host's own services, and anyone who reached the host there reached the sandbox at a port
// it could guess. And its sockets ask for SO_REUSEADDR, with which the kernel hands out a
// port another such socket holds: a sandbox that bound thousands of ports took datagrams
// meant for a host service's port, and another sandbox's replies (a review's attack run).
// These programs take each bind pasta makes on the host's wildcard address: port 0 (the
// kernel picks one) and no SO_REUSEADDR or SO_REUSEPORT, so the port is this socket's alone;
// a bind that cannot be stripped of them is refused (fail closed). Left as asked: the ports
// pasta was given (published, by protocol), binds to a specific address (pasta's test of
// whether a host address has a listener, a bind of that very address and port), and binds in
// another network namespace than the host's (pasta's side in the sandbox's). Pure.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace caisson::bind_program {

struct Kept {
    uint8_t protocol;  // IPPROTO_TCP or IPPROTO_UDP
    uint16_t port;
};

// For BPF_CGROUP_INET4_BIND (`v6` false) or BPF_CGROUP_INET6_BIND. `host_netns`: the cookie
// of the namespace whose binds are judged (SO_NETNS_COOKIE).
std::vector<bpf_insn> ephemeral_binds(bool v6, uint64_t host_netns, const std::vector<Kept>& kept);

}  // namespace caisson::bind_program
