// The egress policy as eBPF programs for the sandbox's cgroup: one per hook (connect and
// UDP sendmsg, IPv4 and IPv6), each walking the allowed destinations, then the denied ones,
// then the default. A denial is counted, and the first kMaxRecords are recorded, in an
// array map the supervisor reads at the end. Pure: instructions only.
#pragma once

#include <caisson/policy.hpp>

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace caisson::egress {

enum class Hook : uint32_t { Connect4, Connect6, Sendmsg4, Sendmsg6 };
inline constexpr Hook kHooks[] = {Hook::Connect4, Hook::Connect6, Hook::Sendmsg4, Hook::Sendmsg6};

bpf_attach_type attach_type(Hook h);
const char* hook_name(Hook h);  // "connect4", ...

inline constexpr uint32_t kMaxRecords = 64;
// The map: entry 0 holds the count of denials (u64 at offset 0); entries 1..kMaxRecords
// the first denials, in this layout.
struct Record {
    uint32_t family;   // AF_INET, AF_INET6
    uint32_t port_be;  // as the sandbox wrote it: network order in the low 16 bits
    uint32_t type;     // SOCK_STREAM, SOCK_DGRAM
    uint32_t hook;     // Hook
    uint8_t addr[16];
};
inline constexpr uint32_t kMapEntries = kMaxRecords + 1;
// The most destinations (allowed and denied) one policy's programs hold.
inline constexpr size_t kMaxRules = 512;

// Throws caisson::Error (usage) when the rules do not fit one program.
std::vector<bpf_insn> program(const Egress& e, Hook hook, int map_fd);

// BPF_CGROUP_INET_SOCK_CREATE: TCP and UDP sockets only (no raw, ICMP, SCTP, MPTCP...), which
// could pass around the rules.
std::vector<bpf_insn> sock_create_program();

// BPF_CGROUP_INET_EGRESS: no packet whose route a header of its own decides. The hooks above
// judge the socket's address; a source route sends the packet to its first hop instead: an
// IPv6 routing header, which a socket may carry without privilege (IPV6_RTHDR), found past
// up to four hop-by-hop and destination options headers (more is refused), or an IPv4 loose
// or strict source route option, which older kernels let any socket set (the other options
// pass).
std::vector<bpf_insn> source_route_program();

// Landlock's TCP connect rules as a second layer: the ports every allowed destination names,
// when the policy denies by default and no allowed destination takes every port (Landlock
// knows ports, not addresses). nullopt: no Landlock layer for this policy.
std::optional<std::vector<uint16_t>> landlock_connect_ports(const Egress& e);

}  // namespace caisson::egress
