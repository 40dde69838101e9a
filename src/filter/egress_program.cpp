#include "filter/egress_program.hpp"

#include "filter/ebpf_asm.hpp"

#include <caisson/error.hpp>

#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>
#include <set>

namespace caisson::egress {
namespace {

using ebpf::Assembler;
constexpr uint8_t kCtx = 6, kPort = 7, kTmp = 8;
constexpr uint8_t kWord0 = 2;  // address words in r2..r5 (r2 alone for IPv4)

bool is_v6(Hook h) { return h == Hook::Connect6 || h == Hook::Sendmsg6; }

// The 32-bit word `i` of an address, and of its prefix mask, as the program loads them:
// memory order read as a host integer, so no byte swapping is needed on either side.
uint32_t word(const uint8_t* bytes, unsigned i) {
    uint32_t w;
    std::memcpy(&w, bytes + 4 * i, 4);
    return w;
}
std::array<uint8_t, 16> mask_bytes(unsigned prefix) {
    std::array<uint8_t, 16> m{};
    for (unsigned bit = 0; bit < prefix; ++bit) m[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    return m;
}

// Jumps to `verdict` when the destination in r2..r5 / r7 lies in `d`; falls through otherwise.
// Returns false when `d` takes every destination: nothing after it can be reached.
bool match(Assembler& a, const NetDestination& d, Assembler::Label verdict) {
    Assembler::Label next = a.label();
    auto mask = mask_bytes(d.prefix);
    unsigned words = d.v6 ? 4 : 1;
    for (unsigned i = 0; i < words; ++i) {
        uint32_t m = word(mask.data(), i);
        if (m == 0) continue;
        a.emit(ebpf::mov32_reg(kTmp, static_cast<uint8_t>(kWord0 + i)));
        if (m != 0xffffffffu) a.emit(ebpf::and32_imm(kTmp, static_cast<int32_t>(m)));
        a.jump_if(BPF_JMP32 | BPF_JNE, kTmp, static_cast<int32_t>(word(d.addr.data(), i) & m), next);
    }
    if (d.port_lo != 0) a.jump_if(BPF_JMP32 | BPF_JLT, kPort, d.port_lo, next);
    if (d.port_hi != 65535) a.jump_if(BPF_JMP32 | BPF_JGT, kPort, d.port_hi, next);
    a.jump(verdict);
    a.place(next);
    return d.prefix != 0 || d.port_lo != 0 || d.port_hi != 65535;
}

// The rules of one family, then the default.
// (The verifier refuses code no path reaches: a rule taking every destination ends the list.)
void rules(Assembler& a, const Egress& e, bool v6, Assembler::Label allow, Assembler::Label deny) {
    for (const auto& d : e.allow)
        if (d.v6 == v6 && !match(a, d, allow)) return;
    for (const auto& d : e.deny)
        if (d.v6 == v6 && !match(a, d, deny)) return;
    a.jump(e.default_deny() ? deny : allow);
}

// Counts the denial, records it while there is room, and refuses the call.
void deny_block(Assembler& a, Hook hook, int map_fd) {
    Assembler::Label out = a.label();
    auto lookup = [&] {
        a.load_map_fd(1, map_fd);
        a.emit(ebpf::mov_reg(2, 10));
        a.emit(ebpf::add_imm(2, -4));
        a.emit(ebpf::call(BPF_FUNC_map_lookup_elem));
        a.jump_if(BPF_JMP | BPF_JEQ, 0, 0, out);
    };
    a.emit(ebpf::store32_imm(10, -4, 0));
    lookup();
    a.emit(ebpf::mov_imm(1, 1));
    a.emit(ebpf::fetch_add64(0, 0, 1));
    a.jump_if(BPF_JMP | BPF_JGE, 1, static_cast<int32_t>(kMaxRecords), out);
    a.emit(ebpf::add_imm(1, 1));
    a.emit(ebpf::store32(10, -4, 1));
    lookup();
    auto copy = [&](int16_t from, int16_t to) {
        a.emit(ebpf::load32(1, kCtx, from));
        a.emit(ebpf::store32(0, to, 1));
    };
    copy(offsetof(bpf_sock_addr, user_family), offsetof(Record, family));
    copy(offsetof(bpf_sock_addr, user_port), offsetof(Record, port_be));
    copy(offsetof(bpf_sock_addr, type), offsetof(Record, type));
    a.emit(ebpf::store32_imm(0, offsetof(Record, hook), static_cast<int32_t>(hook)));
    if (is_v6(hook)) {
        for (int16_t i = 0; i < 4; ++i)
            copy(static_cast<int16_t>(offsetof(bpf_sock_addr, user_ip6) + 4 * i), static_cast<int16_t>(offsetof(Record, addr) + 4 * i));
    } else {
        copy(offsetof(bpf_sock_addr, user_ip4), offsetof(Record, addr));
    }
    a.place(out);
    a.emit(ebpf::mov_imm(0, 0));
    a.emit(ebpf::exit_insn());
}

}  // namespace

bpf_attach_type attach_type(Hook h) {
    switch (h) {
        case Hook::Connect4: return BPF_CGROUP_INET4_CONNECT;
        case Hook::Connect6: return BPF_CGROUP_INET6_CONNECT;
        case Hook::Sendmsg4: return BPF_CGROUP_UDP4_SENDMSG;
        case Hook::Sendmsg6: return BPF_CGROUP_UDP6_SENDMSG;
    }
    return BPF_CGROUP_INET4_CONNECT;
}

const char* hook_name(Hook h) {
    switch (h) {
        case Hook::Connect4: return "connect4";
        case Hook::Connect6: return "connect6";
        case Hook::Sendmsg4: return "sendmsg4";
        case Hook::Sendmsg6: return "sendmsg6";
    }
    return "?";
}

std::vector<bpf_insn> program(const Egress& e, Hook hook, int map_fd) {
    if (e.allow.size() + e.deny.size() > kMaxRules)
        throw Error::usage("egress policy: more than " + std::to_string(kMaxRules) + " destinations");
    Assembler a;
    Assembler::Label allow = a.label(), deny = a.label();
    a.emit(ebpf::mov_reg(kCtx, 1));
    a.emit(ebpf::load32(kPort, kCtx, offsetof(bpf_sock_addr, user_port)));
    a.emit(ebpf::be16(kPort));
    if (is_v6(hook)) {
        for (uint8_t i = 0; i < 4; ++i)
            a.emit(ebpf::load32(static_cast<uint8_t>(kWord0 + i), kCtx, static_cast<int16_t>(offsetof(bpf_sock_addr, user_ip6) + 4 * i)));
        // ::ffff:a.b.c.d reaches an IPv4 host through an IPv6 socket: judged by the IPv4 rules.
        Assembler::Label native = a.label();
        const uint8_t mapped[4] = {0, 0, 0xff, 0xff};
        a.jump_if(BPF_JMP32 | BPF_JNE, kWord0, 0, native);
        a.jump_if(BPF_JMP32 | BPF_JNE, kWord0 + 1, 0, native);
        a.jump_if(BPF_JMP32 | BPF_JNE, kWord0 + 2, static_cast<int32_t>(word(mapped, 0)), native);
        a.emit(ebpf::mov32_reg(kWord0, kWord0 + 3));
        rules(a, e, false, allow, deny);
        a.place(native);
        rules(a, e, true, allow, deny);
    } else {
        a.emit(ebpf::load32(kWord0, kCtx, offsetof(bpf_sock_addr, user_ip4)));
        rules(a, e, false, allow, deny);
    }
    // The verifier refuses code no path reaches: a verdict no rule leads to is left out.
    if (a.used(allow)) {
        a.place(allow);
        a.emit(ebpf::mov_imm(0, 1));
        a.emit(ebpf::exit_insn());
    }
    if (a.used(deny)) {
        a.place(deny);
        deny_block(a, hook, map_fd);
    }
    std::vector<bpf_insn> out;
    if (!a.finish(out)) throw Error::usage("egress policy: too many destinations for one program");
    return out;
}

namespace {
// The program so far, ended by its two verdicts: 1 (let through) at `allow`, 0 at `refuse`.
std::vector<bpf_insn> with_verdicts(Assembler& a, Assembler::Label allow, Assembler::Label refuse) {
    a.place(allow);
    a.emit(ebpf::mov_imm(0, 1));
    a.emit(ebpf::exit_insn());
    a.place(refuse);
    a.emit(ebpf::mov_imm(0, 0));
    a.emit(ebpf::exit_insn());
    std::vector<bpf_insn> out;
    a.finish(out);
    return out;
}
}  // namespace

std::vector<bpf_insn> sock_create_program() {
    Assembler a;
    Assembler::Label refuse = a.label();
    Assembler::Label ok = a.label();
    a.emit(ebpf::load32(2, 1, offsetof(bpf_sock, type)));
    a.jump_if(BPF_JMP32 | BPF_JEQ, 2, SOCK_RAW, refuse);
    // Only TCP and UDP: ICMP (ping sockets) has no port for a rule to name, and SCTP, MPTCP
    // or SMC reach further addresses on paths the connect hooks do not all see.
    a.emit(ebpf::load32(2, 1, offsetof(bpf_sock, protocol)));
    a.jump_if(BPF_JMP32 | BPF_JEQ, 2, IPPROTO_TCP, ok);
    a.jump_if(BPF_JMP32 | BPF_JNE, 2, IPPROTO_UDP, refuse);
    return with_verdicts(a, ok, refuse);
}

std::vector<bpf_insn> source_route_program() {
    constexpr uint8_t kSkb = 6, kOffset = 7, kNext = 8, kLen = 9;
    constexpr int kWalk = 4;  // extension headers looked through before a routing header
    Assembler a;
    Assembler::Label pass = a.label();
    Assembler::Label drop = a.label();
    Assembler::Label v4 = a.label();
    // Copies `bytes` bytes of the packet (from its network header) at register kOffset to the
    // stack at fp-8, and loads the first into kNext; an unreadable packet is not let through.
    auto copy = [&](int bytes) {
        a.emit(ebpf::mov_reg(1, kSkb));
        a.emit(ebpf::mov_reg(2, kOffset));
        a.emit(ebpf::mov_reg(3, 10));
        a.emit(ebpf::add_imm(3, -8));
        a.emit(ebpf::mov_imm(4, bytes));
        a.emit(ebpf::call(BPF_FUNC_skb_load_bytes));
        a.jump_if(BPF_JMP | BPF_JNE, 0, 0, drop);
        a.emit(ebpf::load8(kNext, 10, -8));
    };
    a.emit(ebpf::mov_reg(kSkb, 1));
    // skb->protocol is the EtherType, in network order.
    a.emit(ebpf::load32(2, 1, offsetof(__sk_buff, protocol)));
    a.jump_if(BPF_JMP32 | BPF_JEQ, 2, htons(ETH_P_IP), v4);
    a.jump_if(BPF_JMP32 | BPF_JNE, 2, htons(ETH_P_IPV6), pass);
    // IPv6: the fixed header's "next header" (byte 6), then through hop-by-hop and
    // destination options headers (the kernel's own, a BIG TCP jumbo header say, come first)
    // to a routing header, which is refused; anything else ends the walk and passes.
    a.emit(ebpf::mov_imm(kOffset, 6));
    copy(1);
    a.emit(ebpf::mov_imm(kOffset, 40));
    for (int i = 0; i < kWalk; ++i) {
        Assembler::Label options = a.label();
        a.jump_if(BPF_JMP | BPF_JEQ, kNext, IPPROTO_ROUTING, drop);
        a.jump_if(BPF_JMP | BPF_JEQ, kNext, IPPROTO_HOPOPTS, options);
        a.jump_if(BPF_JMP | BPF_JNE, kNext, IPPROTO_DSTOPTS, pass);
        a.place(options);
        copy(2);  // its next header, and its length in 8-byte units past the first 8
        a.emit(ebpf::load8(kLen, 10, -7));
        a.emit(ebpf::add_imm(kLen, 1));
        a.emit(ebpf::insn(BPF_ALU64 | BPF_LSH | BPF_K, kLen, 0, 0, 3));
        a.emit(ebpf::insn(BPF_ALU64 | BPF_ADD | BPF_X, kOffset, kLen, 0, 0));
    }
    // What follows the last header looked through: a routing header, or yet another option
    // header (deeper than any the kernel builds itself), is refused.
    a.jump_if(BPF_JMP | BPF_JEQ, kNext, IPPROTO_ROUTING, drop);
    a.jump_if(BPF_JMP | BPF_JEQ, kNext, IPPROTO_HOPOPTS, drop);
    a.jump_if(BPF_JMP | BPF_JEQ, kNext, IPPROTO_DSTOPTS, drop);
    a.jump(pass);
    // IPv4: no loose or strict source route among the options, which older kernels let any
    // socket set (IP_OPTIONS, IP_RETOPTS). The other options pass (record route, timestamps,
    // a host's CIPSO labels), as the kernel reads them: up to an end-of-list, one byte for a
    // no-operation, else a type and a length of at least two.
    constexpr int16_t kEnd = -16;  // the header's length, on the stack
    a.place(v4);
    a.emit(ebpf::mov_imm(kOffset, 0));
    copy(1);
    a.emit(ebpf::and_imm(kNext, 0x0f));
    a.jump_if(BPF_JMP | BPF_JEQ, kNext, 5, pass);
    a.jump_if(BPF_JMP | BPF_JLT, kNext, 5, drop);
    a.emit(ebpf::insn(BPF_ALU64 | BPF_LSH | BPF_K, kNext, 0, 0, 2));
    a.emit(ebpf::store32(10, kEnd, kNext));
    a.emit(ebpf::mov_imm(kOffset, 20));
    for (int i = 0; i < 40; ++i) {  // 40 bytes of options at most, one a step at least
        Assembler::Label next = a.label();
        Assembler::Label sized = a.label();
        a.emit(ebpf::load32(kLen, 10, kEnd));
        a.jump_if_reg(BPF_JMP | BPF_JGE, kOffset, kLen, pass);
        copy(1);
        a.jump_if(BPF_JMP | BPF_JEQ, kNext, IPOPT_END, pass);
        a.jump_if(BPF_JMP | BPF_JNE, kNext, IPOPT_NOOP, sized);
        a.emit(ebpf::add_imm(kOffset, 1));
        a.jump(next);
        a.place(sized);
        a.jump_if(BPF_JMP | BPF_JEQ, kNext, IPOPT_LSRR, drop);
        a.jump_if(BPF_JMP | BPF_JEQ, kNext, IPOPT_SSRR, drop);
        a.emit(ebpf::add_imm(kOffset, 1));
        copy(1);  // the option's length
        a.emit(ebpf::add_imm(kOffset, -1));
        a.jump_if(BPF_JMP | BPF_JLT, kNext, 2, drop);
        a.emit(ebpf::insn(BPF_ALU64 | BPF_ADD | BPF_X, kOffset, kNext, 0, 0));
        a.place(next);
    }
    a.emit(ebpf::load32(kLen, 10, kEnd));
    a.jump_if_reg(BPF_JMP | BPF_JGE, kOffset, kLen, pass);
    a.jump(drop);
    return with_verdicts(a, pass, drop);
}

std::optional<std::vector<uint16_t>> landlock_connect_ports(const Egress& e) {
    if (!e.default_deny()) return std::nullopt;
    std::set<uint16_t> ports;
    for (const auto& d : e.allow) {
        if (d.port_hi - d.port_lo >= 64) return std::nullopt;
        for (unsigned p = d.port_lo; p <= d.port_hi; ++p) ports.insert(static_cast<uint16_t>(p));
    }
    if (ports.size() > 256) return std::nullopt;
    return std::vector<uint16_t>(ports.begin(), ports.end());
}

}  // namespace caisson::egress
