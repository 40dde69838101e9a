#include "filter/bind_program.hpp"

#include "filter/ebpf_asm.hpp"

#include <caisson/error.hpp>

#include <cstddef>
#include <set>

namespace caisson::bind_program {

std::vector<bpf_insn> ephemeral_binds(uint64_t host_netns, const std::vector<uint16_t>& kept_ports) {
    using namespace ebpf;
    constexpr uint8_t kCtx = 6, kPort = 7;
    const std::set<uint16_t> kept(kept_ports.begin(), kept_ports.end());
    if (kept.size() > 256) throw Error::usage("--publish: at most 256 host ports with --net user");
    Assembler a;
    const Assembler::Label leave = a.label();
    a.emit(mov_reg(kCtx, 1));
    a.emit(call(BPF_FUNC_get_netns_cookie));  // r1 is still the context: this socket's namespace
    a.load_imm64(2, host_netns);
    a.jump_if_reg(BPF_JMP | BPF_JNE, 0, 2, leave);
    a.emit(load32(kPort, kCtx, offsetof(bpf_sock_addr, user_port)));
    a.emit(be16(kPort));  // network order in the low 16 bits, to the host's
    a.jump_if(BPF_JMP | BPF_JEQ, kPort, 0, leave);
    for (uint16_t port : kept) a.jump_if(BPF_JMP | BPF_JEQ, kPort, port, leave);
    a.emit(store32_imm(kCtx, offsetof(bpf_sock_addr, user_port), 0));
    a.place(leave);
    a.emit(mov_imm(0, 1));  // the bind goes on
    a.emit(exit_insn());
    std::vector<bpf_insn> out;
    if (!a.finish(out)) throw Error(ErrorKind::Setup, "assemble", "the bind program", EINVAL);
    return out;
}

}  // namespace caisson::bind_program
