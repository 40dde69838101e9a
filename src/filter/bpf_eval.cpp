#include "filter/bpf_eval.hpp"

#include "filter/syscall_table.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <cstring>

namespace caisson::filter {

EvalResult evaluate(std::span<const sock_filter> prog, const SeccompInput& in, bool args_known) {
    EvalResult r;
    // The same byte layout as struct seccomp_data on a little-endian machine.
    unsigned char data[64];
    std::memcpy(data, &in.nr, 4);
    std::memcpy(data + 4, &in.arch, 4);
    std::memcpy(data + 8, &in.instruction_pointer, 8);
    std::memcpy(data + 16, in.args, 48);
    uint32_t A = 0, X = 0, mem[BPF_MEMWORDS] = {};
    auto bad = [&](const char* why, size_t pc) {
        r.ok = false;
        r.error = std::string(why) + " at instruction " + std::to_string(pc);
        return r;
    };
    if (prog.empty() || prog.size() > BPF_MAXINSNS) return bad("program size", 0);
    for (size_t pc = 0; pc < prog.size(); ++pc) {
        const sock_filter& f = prog[pc];
        ++r.steps;
        uint32_t src = BPF_SRC(f.code) == BPF_X ? X : f.k;
        switch (BPF_CLASS(f.code)) {
        case BPF_LD:
            if (f.code == (BPF_LD | BPF_W | BPF_ABS)) {
                if (f.k > 60 || (f.k & 3)) return bad("load outside seccomp_data", pc);
                if (f.k >= 8 && !args_known) {
                    r.ok = true;
                    r.reads_args = true;
                    return r;
                }
                if (f.k >= 8) r.reads_args = true;
                std::memcpy(&A, data + f.k, 4);
            } else if (f.code == (BPF_LD | BPF_W | BPF_LEN)) {
                A = sizeof(data);
            } else if (f.code == (BPF_LD | BPF_IMM)) {
                A = f.k;
            } else if (f.code == (BPF_LD | BPF_MEM)) {
                if (f.k >= BPF_MEMWORDS) return bad("scratch index", pc);
                A = mem[f.k];
            } else {
                return bad("unsupported load", pc);
            }
            break;
        case BPF_LDX:
            if (f.code == (BPF_LDX | BPF_W | BPF_IMM)) X = f.k;
            else if (f.code == (BPF_LDX | BPF_W | BPF_LEN)) X = sizeof(data);
            else if (f.code == (BPF_LDX | BPF_MEM) && f.k < BPF_MEMWORDS) X = mem[f.k];
            else return bad("unsupported load into X", pc);
            break;
        case BPF_ST:
            if (f.k >= BPF_MEMWORDS) return bad("scratch index", pc);
            mem[f.k] = A;
            break;
        case BPF_STX:
            if (f.k >= BPF_MEMWORDS) return bad("scratch index", pc);
            mem[f.k] = X;
            break;
        case BPF_ALU:
            switch (BPF_OP(f.code)) {
            case BPF_ADD: A += src; break;
            case BPF_SUB: A -= src; break;
            case BPF_MUL: A *= src; break;
            case BPF_DIV:
                if (src == 0) return bad("division by zero", pc);
                A /= src;
                break;
            case BPF_MOD:
                if (src == 0) return bad("division by zero", pc);
                A %= src;
                break;
            case BPF_OR: A |= src; break;
            case BPF_AND: A &= src; break;
            case BPF_XOR: A ^= src; break;
            case BPF_LSH: A = src >= 32 ? 0 : A << src; break;
            case BPF_RSH: A = src >= 32 ? 0 : A >> src; break;
            case BPF_NEG: A = ~A + 1; break;
            default: return bad("unsupported alu op", pc);
            }
            break;
        case BPF_JMP: {
            size_t next;
            if (BPF_OP(f.code) == BPF_JA) {
                next = pc + 1 + f.k;
            } else {
                bool taken;
                switch (BPF_OP(f.code)) {
                case BPF_JEQ: taken = A == src; break;
                case BPF_JGT: taken = A > src; break;
                case BPF_JGE: taken = A >= src; break;
                case BPF_JSET: taken = (A & src) != 0; break;
                default: return bad("unsupported jump", pc);
                }
                next = pc + 1 + (taken ? f.jt : f.jf);
            }
            // Jumps only go forward, so every program ends.
            if (next >= prog.size()) return bad("jump out of the program", pc);
            pc = next - 1;
            break;
        }
        case BPF_RET:
            r.ok = true;
            r.action = BPF_RVAL(f.code) == BPF_A ? A : f.k;
            return r;
        case BPF_MISC:
            if (BPF_MISCOP(f.code) == BPF_TAX) X = A;
            else A = X;
            break;
        default: return bad("unknown instruction class", pc);
        }
    }
    return bad("fell off the end", prog.size());
}

std::optional<uint32_t> action_by_number(std::span<const sock_filter> program, std::string_view syscall) {
    auto nr = syscall_number(seccomp::Abi::X86_64, syscall);
    if (!nr) return std::nullopt;
    SeccompInput in;
    in.arch = AUDIT_ARCH_X86_64;
    in.nr = *nr;
    EvalResult r = evaluate(program, in, /*args_known=*/false);
    if (!r.ok || r.reads_args) return std::nullopt;
    return r.action & SECCOMP_RET_ACTION_FULL;
}

}  // namespace caisson::filter
