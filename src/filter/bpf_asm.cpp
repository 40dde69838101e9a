#include "filter/bpf_asm.hpp"

#include <caisson/error.hpp>

namespace caisson::filter {

Label Assembler::label() {
    label_pos_.push_back(-1);
    return Label{static_cast<int>(label_pos_.size() - 1)};
}

void Assembler::bind(Label l) { label_pos_.at(static_cast<size_t>(l.id)) = static_cast<long>(items_.size()); }

void Assembler::load_word(uint32_t offset) { items_.push_back({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset)}); }

void Assembler::and_k(uint32_t k) { items_.push_back({BPF_STMT(BPF_ALU | BPF_AND | BPF_K, k)}); }

void Assembler::jump_if(uint16_t op, uint32_t k, Label jt, Label jf) {
    Item it{BPF_JUMP(static_cast<uint16_t>(BPF_JMP | op | BPF_K), k, 0, 0)};
    it.jt = jt.id;
    it.jf = jf.id;
    items_.push_back(it);
}

void Assembler::jump(Label to) {
    Item it{BPF_STMT(BPF_JMP | BPF_JA, 0)};
    it.ja = to.id;
    items_.push_back(it);
}

void Assembler::ret(uint32_t k) { items_.push_back({BPF_STMT(BPF_RET | BPF_K, k)}); }

std::vector<sock_filter> Assembler::finish() {
    for (long pos : label_pos_)
        if (pos < 0) throw Error(ErrorKind::Setup, "seccomp compiler", "a label was never bound", 0);
    auto target = [&](int id) { return label_pos_[static_cast<size_t>(id)]; };
    // Insert a trampoline at index `at`: everything from `at` on moves down by one.
    auto insert_ja = [&](size_t at, int to) {
        Item tramp{BPF_STMT(BPF_JMP | BPF_JA, 0)};
        tramp.ja = to;
        items_.insert(items_.begin() + static_cast<long>(at), tramp);
        for (auto& pos : label_pos_)
            if (pos >= static_cast<long>(at)) ++pos;
        label_pos_.push_back(static_cast<long>(at));
        return static_cast<int>(label_pos_.size() - 1);
    };
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < items_.size() && !changed; ++i) {
            if (items_[i].jt < 0) continue;
            long far_t = target(items_[i].jt) - static_cast<long>(i) - 1;
            long far_f = target(items_[i].jf) - static_cast<long>(i) - 1;
            if (far_t < 0 || far_f < 0) throw Error(ErrorKind::Setup, "seccomp compiler", "backward jump", 0);
            // insert_ja grows items_: index it again afterwards, never hold a reference across.
            if (far_t > 255) {
                int tramp = insert_ja(i + 1, items_[i].jt);
                items_[i].jt = tramp;
                changed = true;
            } else if (far_f > 255) {
                int tramp = insert_ja(i + 1, items_[i].jf);
                items_[i].jf = tramp;
                changed = true;
            }
        }
    }
    if (items_.size() > BPF_MAXINSNS)
        throw Error::usage("the seccomp policy compiles to " + std::to_string(items_.size()) +
                           " instructions, over the kernel's limit of " + std::to_string(BPF_MAXINSNS));
    std::vector<sock_filter> out;
    out.reserve(items_.size());
    for (size_t i = 0; i < items_.size(); ++i) {
        sock_filter f = items_[i].insn;
        if (items_[i].jt >= 0) {
            f.jt = static_cast<uint8_t>(target(items_[i].jt) - static_cast<long>(i) - 1);
            f.jf = static_cast<uint8_t>(target(items_[i].jf) - static_cast<long>(i) - 1);
        } else if (items_[i].ja >= 0) {
            f.k = static_cast<uint32_t>(target(items_[i].ja) - static_cast<long>(i) - 1);
        }
        out.push_back(f);
    }
    return out;
}

}  // namespace caisson::filter
