// The bind hooks of pasta's cgroup (--net user as root). This pasta is a full-cone NAT that
// keeps ports: a datagram from the sandbox's port P makes it bind P on every address of the
// host, so the program in the sandbox chose host ports (1024 and up): it took them from the
// host's own services, and anyone who reached the host there reached the sandbox at a port
// it could guess. These programs give such a bind port 0 instead, so the kernel picks an
// ephemeral port, as any NAT would; pasta keeps its flows by the socket, not by the port it
// asked for. Left as asked: the ports pasta was given (published), port 0, and binds in
// another network namespace than the host's (pasta's side in the sandbox's). Pure.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <vector>

namespace caisson::bind_program {

// For BPF_CGROUP_INET4_BIND and BPF_CGROUP_INET6_BIND alike (user_port is at the same
// place). `host_netns`: the cookie of the namespace whose binds are judged (SO_NETNS_COOKIE).
std::vector<bpf_insn> ephemeral_binds(uint64_t host_netns, const std::vector<uint16_t>& kept_ports);

}  // namespace caisson::bind_program
