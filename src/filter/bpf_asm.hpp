// A classic-BPF assembler with forward labels. Conditional jumps reach 255 instructions at
// most; finish() routes longer ones through an unconditional `ja` placed right after the
// jump, until every offset fits.
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace caisson::filter {

struct Label {
    int id = -1;
};

class Assembler {
public:
    Label label();
    void bind(Label l);  // the label marks the next instruction emitted

    void load_word(uint32_t offset);  // A = seccomp_data[offset], 32 bits
    void and_k(uint32_t k);           // A &= k
    // if (A <op> k) goto jt else goto jf; op is BPF_JEQ, BPF_JGT, BPF_JGE or BPF_JSET.
    void jump_if(uint16_t op, uint32_t k, Label jt, Label jf);
    void jump(Label to);
    void ret(uint32_t k);

    size_t size() const { return items_.size(); }
    // Resolves the labels. Throws caisson::Error when the program is over BPF_MAXINSNS.
    std::vector<sock_filter> finish();

private:
    struct Item {
        sock_filter insn{};
        int jt = -1, jf = -1;  // label ids for conditional jumps
        int ja = -1;           // label id for an unconditional jump
    };
    std::vector<Item> items_;
    std::vector<long> label_pos_;  // instruction index per label id, -1 while unbound
};

}  // namespace caisson::filter
