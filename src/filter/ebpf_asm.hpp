// A small eBPF assembler for the programs caisson builds itself (device and egress
// filters): instruction builders and forward labels. Pure: nothing is loaded here.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace caisson::ebpf {

inline bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}
inline bpf_insn load32(uint8_t dst, uint8_t src, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0); }
inline bpf_insn load8(uint8_t dst, uint8_t src, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_B, dst, src, off, 0); }
inline bpf_insn store32(uint8_t dst, int16_t off, uint8_t src) { return insn(BPF_STX | BPF_MEM | BPF_W, dst, src, off, 0); }
inline bpf_insn store32_imm(uint8_t dst, int16_t off, int32_t imm) { return insn(BPF_ST | BPF_MEM | BPF_W, dst, 0, off, imm); }
inline bpf_insn mov_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
inline bpf_insn mov_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
inline bpf_insn mov32_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0); }
inline bpf_insn and_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm); }
inline bpf_insn and32_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm); }
inline bpf_insn add_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm); }
inline bpf_insn rsh_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm); }
// Network to host order of the low 16 bits (a port), zero-extended.
inline bpf_insn be16(uint8_t dst) { return insn(BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, 16); }
inline bpf_insn jne_imm(uint8_t dst, int32_t imm, int16_t off) { return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm); }
inline bpf_insn call(int32_t helper) { return insn(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
inline bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
// *(u64 *)(dst + off) += src, and src receives the old value (kernel 5.12).
inline bpf_insn fetch_add64(uint8_t dst, int16_t off, uint8_t src) {
    return insn(BPF_STX | BPF_ATOMIC | BPF_DW, dst, src, off, BPF_ADD | BPF_FETCH);
}

// A program under construction, with jumps to labels placed later.
class Assembler {
public:
    using Label = size_t;
    Label label() {
        targets_.push_back(-1);
        return targets_.size() - 1;
    }
    bool used(Label l) const {
        for (const auto& f : fixups_)
            if (f.label == l) return true;
        return false;
    }
    void place(Label l) { targets_[l] = static_cast<long>(code_.size()); }
    void emit(bpf_insn i) { code_.push_back(i); }
    // A conditional jump (BPF_JMP or BPF_JMP32 class `code`, immediate operand) to `l`.
    void jump_if(uint8_t code, uint8_t reg, int32_t imm, Label l) {
        fixups_.push_back({code_.size(), l});
        emit(insn(code | BPF_K, reg, 0, 0, imm));
    }
    // A conditional jump comparing two registers (`code`'s class and operation, BPF_X).
    void jump_if_reg(uint8_t code, uint8_t dst, uint8_t src, Label l) {
        fixups_.push_back({code_.size(), l});
        emit(insn(code | BPF_X, dst, src, 0, 0));
    }
    void jump(Label l) {
        fixups_.push_back({code_.size(), l});
        emit(insn(BPF_JMP | BPF_JA, 0, 0, 0, 0));
    }
    // A 64-bit immediate (two instructions).
    void load_imm64(uint8_t dst, uint64_t value) {
        emit(insn(BPF_LD | BPF_DW | BPF_IMM, dst, 0, 0, static_cast<int32_t>(value & 0xffffffffu)));
        emit(insn(0, 0, 0, 0, static_cast<int32_t>(value >> 32)));
    }
    // The map descriptor as a 64-bit immediate (two instructions).
    void load_map_fd(uint8_t dst, int fd) {
        emit(insn(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd));
        emit(insn(0, 0, 0, 0, 0));
    }
    // Resolves every jump. Returns false when a label was never placed or is out of reach.
    bool finish(std::vector<bpf_insn>& out) {
        for (const auto& [at, l] : fixups_) {
            long off = targets_[l] - static_cast<long>(at) - 1;
            if (targets_[l] < 0 || off < INT16_MIN || off > INT16_MAX) return false;
            code_[at].off = static_cast<int16_t>(off);
        }
        out = code_;
        return true;
    }

private:
    struct Fixup {
        size_t at;
        Label label;
    };
    std::vector<bpf_insn> code_;
    std::vector<long> targets_;
    std::vector<Fixup> fixups_;
};

}  // namespace caisson::ebpf
