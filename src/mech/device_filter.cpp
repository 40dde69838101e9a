#include "mech/device_filter.hpp"

#include "filter/ebpf_asm.hpp"
#include "kernel/fd.hpp"
#include "mech/ebpf.hpp"

#include <caisson/error.hpp>


namespace caisson::mech {
namespace {

using caisson::ebpf::and_imm;
using caisson::ebpf::exit_insn;
using caisson::ebpf::insn;
using caisson::ebpf::jne_imm;
using caisson::ebpf::load32;
using caisson::ebpf::mov_imm;
using caisson::ebpf::mov_reg;
using caisson::ebpf::rsh_imm;

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
    kernel::Fd prog = load_bpf_program(BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, device_program(rules),
                                         "caisson_dev", "device filter (BPF_PROG_TYPE_CGROUP_DEVICE)");
    attach_bpf_program(cgroup_fd, prog.get(), BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, "device filter");
}

}  // namespace caisson::mech
