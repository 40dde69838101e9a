#include "mech/device_filter.hpp"

#include "kernel/fd.hpp"

#include <caisson/error.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace caisson::mech {
namespace {

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}
bpf_insn load32(uint8_t dst, uint8_t src, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0); }
bpf_insn mov_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn mov_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
bpf_insn and_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm); }
bpf_insn rsh_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm); }
bpf_insn jne_imm(uint8_t dst, int32_t imm, int16_t off) { return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm); }
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

int access_bits(const std::string& a) {
    int bits = 0;
    for (char c : a) bits |= c == 'm' ? BPF_DEVCG_ACC_MKNOD : c == 'r' ? BPF_DEVCG_ACC_READ : BPF_DEVCG_ACC_WRITE;
    return bits;
}

}  // namespace

std::vector<bpf_insn> device_program(const std::vector<DeviceRule>& rules) {
    // r2 = requested access, r3 = device type, r4 = major, r5 = minor.
    std::vector<bpf_insn> p = {
        load32(2, 1, offsetof(bpf_cgroup_dev_ctx, access_type)),
        mov_reg(3, 2),
        and_imm(3, 0xffff),
        rsh_imm(2, 16),
        load32(4, 1, offsetof(bpf_cgroup_dev_ctx, major)),
        load32(5, 1, offsetof(bpf_cgroup_dev_ctx, minor)),
    };
    // Last rule first: the first that matches, in that order, decides.
    for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
        const DeviceRule& r = *it;
        std::vector<bpf_insn> tests;
        if (r.type != 'a') tests.push_back(jne_imm(3, r.type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, 0));
        if (r.type != 'a' && r.major >= 0) tests.push_back(jne_imm(4, static_cast<int32_t>(r.major), 0));
        if (r.type != 'a' && r.minor >= 0) tests.push_back(jne_imm(5, static_cast<int32_t>(r.minor), 0));
        // An allow rule covers a request whose every access it lists; a deny rule one that
        // asks for any access it lists (denying 'w' must refuse an O_RDWR open).
        tests.push_back(mov_reg(0, 2));
        if (r.allow) {
            tests.push_back(and_imm(0, ~access_bits(r.access)));
            tests.push_back(jne_imm(0, 0, 0));
        } else {
            tests.push_back(and_imm(0, access_bits(r.access)));
            tests.push_back(insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0));
        }
        // Each test jumps past this rule's verdict (two instructions) when it fails.
        int16_t n = static_cast<int16_t>(tests.size());
        for (int16_t i = 0; i < n; ++i)
            if (BPF_CLASS(tests[i].code) == BPF_JMP) tests[i].off = static_cast<int16_t>(n - i - 1 + 2);
        p.insert(p.end(), tests.begin(), tests.end());
        p.push_back(mov_imm(0, r.allow ? 1 : 0));
        p.push_back(exit_insn());
    }
    p.push_back(mov_imm(0, 0));
    p.push_back(exit_insn());
    return p;
}

void attach_device_filter(int cgroup_fd, const std::vector<DeviceRule>& rules) {
    std::vector<bpf_insn> prog = device_program(rules);
    static char log[16384];
    bpf_attr load{};
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = reinterpret_cast<uint64_t>(prog.data());
    load.insn_cnt = static_cast<uint32_t>(prog.size());
    load.license = reinterpret_cast<uint64_t>("Apache-2.0");
    load.log_buf = reinterpret_cast<uint64_t>(log);
    load.log_size = sizeof(log);
    load.log_level = 1;
    std::strncpy(load.prog_name, "caisson_dev", sizeof(load.prog_name) - 1);
    log[0] = '\0';
    kernel::Fd fd(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load))));
    if (!fd) {
        int err = errno;
        // The verifier's complaint is the line before its closing summary.
        std::string why = log;
        while (!why.empty() && why.back() == '\n') why.pop_back();
        auto summary = why.rfind('\n');
        why = summary == std::string::npos ? "" : why.substr(0, summary);
        auto line = why.rfind('\n');
        throw Error(ErrorKind::Setup, "load device filter (BPF_PROG_TYPE_CGROUP_DEVICE)",
                    why.empty() ? "" : "verifier: " + why.substr(line == std::string::npos ? 0 : line + 1), err);
    }
    bpf_attr attach{};
    attach.target_fd = static_cast<uint32_t>(cgroup_fd);
    attach.attach_bpf_fd = static_cast<uint32_t>(fd.get());
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    if (::syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof(attach)) < 0)
        throw Error(ErrorKind::Setup, "attach device filter", "sandbox cgroup", errno);
}

}  // namespace caisson::mech
