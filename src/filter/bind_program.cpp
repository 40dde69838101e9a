#include "filter/bind_program.hpp"

#include "filter/ebpf_asm.hpp"

#include <caisson/error.hpp>

#include <sys/socket.h>

#include <cstddef>
#include <set>

namespace caisson::bind_program {

std::vector<bpf_insn> ephemeral_binds(bool v6, uint64_t host_netns, const std::vector<Kept>& kept_ports) {
    using namespace ebpf;
    constexpr uint8_t kCtx = 6, kWord = 7, kProto = 8;
    std::set<std::pair<uint8_t, uint16_t>> kept;
    for (const auto& k : kept_ports) kept.insert({k.protocol, k.port});
    if (kept.size() > 256) throw Error::usage("--publish: at most 256 host ports with --net user");
    Assembler a;
    const Assembler::Label leave = a.label(), deny = a.label();
    a.emit(mov_reg(kCtx, 1));
    a.emit(call(BPF_FUNC_get_netns_cookie));  // r1 is still the context: this socket's namespace
    a.load_imm64(2, host_netns);
    a.jump_if_reg(BPF_JMP | BPF_JNE, 0, 2, leave);
    // The wildcard address only: a bind of a specific one is pasta's test for a listener.
    if (v6) {
        for (int i = 0; i < 4; ++i) {
            a.emit(load32(kWord, kCtx, static_cast<int16_t>(offsetof(bpf_sock_addr, user_ip6) + 4 * i)));
            a.jump_if(BPF_JMP | BPF_JNE, kWord, 0, leave);
        }
    } else {
        a.emit(load32(kWord, kCtx, offsetof(bpf_sock_addr, user_ip4)));
        a.jump_if(BPF_JMP | BPF_JNE, kWord, 0, leave);
    }
    a.emit(load32(kWord, kCtx, offsetof(bpf_sock_addr, user_port)));
    a.emit(be16(kWord));  // network order in the low 16 bits, to the host's
    a.emit(load32(kProto, kCtx, offsetof(bpf_sock_addr, protocol)));
    for (const auto& [protocol, port] : kept) {
        const Assembler::Label other = a.label();
        a.jump_if(BPF_JMP | BPF_JNE, kWord, port, other);
        a.jump_if(BPF_JMP | BPF_JEQ, kProto, protocol, leave);
        a.place(other);
    }
    // No sharing of the port: SO_REUSEADDR and SO_REUSEPORT off, from a zero on the stack.
    for (int option : {SO_REUSEADDR, SO_REUSEPORT}) {
        a.emit(mov_imm(kWord, 0));
        a.emit(store32(10, -4, kWord));
        a.emit(mov_reg(1, kCtx));
        a.emit(mov_imm(2, SOL_SOCKET));
        a.emit(mov_imm(3, option));
        a.emit(mov_reg(4, 10));
        a.emit(add_imm(4, -4));
        a.emit(mov_imm(5, 4));
        a.emit(call(BPF_FUNC_setsockopt));
        a.jump_if(BPF_JMP | BPF_JNE, 0, 0, deny);
    }
    // Port 0, by a register store (kernels before 6.4 refuse an immediate store into the context).
    a.emit(mov_imm(kWord, 0));
    a.emit(store32(kCtx, offsetof(bpf_sock_addr, user_port), kWord));
    a.place(leave);
    a.emit(mov_imm(0, 1));  // the bind goes on
    a.emit(exit_insn());
    a.place(deny);
    a.emit(mov_imm(0, 0));  // refused: EPERM
    a.emit(exit_insn());
    std::vector<bpf_insn> out;
    if (!a.finish(out)) throw Error(ErrorKind::Setup, "assemble", "the bind program", EINVAL);
    return out;
}

}  // namespace caisson::bind_program
