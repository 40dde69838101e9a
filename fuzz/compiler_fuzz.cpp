// The compiler against the policy's meaning: random policies (from the fuzzer's bytes) are
// compiled, and for sampled calls the program run in the evaluator must decide what a
// direct reading of the policy decides: the first rule that names the call and whose
// condition holds on the bits of each argument the kernel reads, else the default; calls
// from an ABI the policy does not list are killed.
#include "filter/bpf_eval.hpp"
#include "filter/seccomp_compiler.hpp"
#include "filter/syscall_table.hpp"

#include <caisson/error.hpp>

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace caisson;
using seccomp::Abi;
using seccomp::Action;
using seccomp::ActionKind;
using seccomp::Expr;
using seccomp::Op;

class Bytes {
public:
    Bytes(const uint8_t* d, size_t n) : d_(d), n_(n) {}
    uint8_t u8() { return i_ < n_ ? d_[i_++] : 0; }
    uint64_t u64() {
        uint64_t v = 0;
        for (int k = 0; k < 8; ++k) v = v << 8 | u8();
        return v;
    }
    bool more() const { return i_ < n_; }

private:
    const uint8_t* d_;
    size_t n_, i_ = 0;
};

const char* const kPool[] = {"read", "write", "mmap", "ioctl", "openat", "fchmod", "kill", "clone", "getpid", "futex"};
const uint64_t kEdges[] = {0, 1, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000,
                           0x8000000000000000, ~0ull};

uint64_t value(Bytes& b) {
    uint8_t k = b.u8();
    return k % 3 == 0 ? b.u64() : kEdges[k % std::size(kEdges)];
}

Expr expr(Bytes& b, int depth) {
    Expr e;
    uint8_t k = b.u8() % (depth > 2 ? 1 : 5);
    if (k == 0 || k == 4) {
        e.kind = Expr::Kind::Cmp;
        e.arg = b.u8() % 6;
        e.op = static_cast<Op>(b.u8() % 6);
        e.mask = b.u8() % 2 ? ~0ull : value(b);
        e.value = value(b);
        e.low32 = b.u8() % 4 == 0;
        return e;
    }
    e.kind = k == 1 ? Expr::Kind::And : k == 2 ? Expr::Kind::Or : Expr::Kind::Not;
    int n = e.kind == Expr::Kind::Not ? 1 : 2 + b.u8() % 2;
    for (int i = 0; i < n; ++i) e.kids.push_back(expr(b, depth + 1));
    return e;
}

Action action(Bytes& b) {
    switch (b.u8() % 6) {
    case 0: return {ActionKind::Allow, 0};
    case 1: return {ActionKind::Errno, static_cast<uint16_t>(b.u8())};
    case 2: return {ActionKind::KillProcess, 0};
    case 3: return {ActionKind::Trap, 0};
    case 4: return {ActionKind::Log, 0};
    default: return {ActionKind::KillThread, 0};
    }
}

bool holds(const Expr& e, const std::string& name, Abi abi, const uint64_t* args) {
    switch (e.kind) {
    case Expr::Kind::True: return true;
    case Expr::Kind::Not: return !holds(e.kids[0], name, abi, args);
    case Expr::Kind::And:
        return std::all_of(e.kids.begin(), e.kids.end(), [&](const Expr& k) { return holds(k, name, abi, args); });
    case Expr::Kind::Or:
        return std::any_of(e.kids.begin(), e.kids.end(), [&](const Expr& k) { return holds(k, name, abi, args); });
    case Expr::Kind::Cmp: break;
    }
    int bits = filter::argument_bits(name, e.arg);
    if (abi == Abi::I386 && (bits == 0 || bits > 32)) bits = 32;
    if (e.low32 && bits != 16) bits = 32;
    if (bits == 0) bits = 64;
    // The kernel reads `bits` bits; a value may be given sign-extended (-1 for an int).
    uint64_t width = bits == 64 ? ~0ull : (1ull << bits) - 1;
    uint64_t a = args[e.arg] & e.mask & width, v = e.value & (bits == 16 ? 0xffffffffull : width);
    switch (e.op) {
    case Op::Eq: return a == v;
    case Op::Ne: return a != v;
    case Op::Lt: return a < v;
    case Op::Le: return a <= v;
    case Op::Gt: return a > v;
    case Op::Ge: return a >= v;
    }
    return false;
}

Action direct(const seccomp::Policy& p, Abi abi, bool listed, uint32_t nr, const uint64_t* args) {
    if (!listed) return {ActionKind::KillProcess, 0};
    for (const auto& r : p.rules)
        for (const auto& name : r.syscalls)
            if (filter::syscall_number(abi, name) == nr && (!r.conditional || holds(r.when, name, abi, args)))
                return r.action;
    return p.default_action;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Bytes b(data, size);
    seccomp::Policy p;
    p.mode = seccomp::Mode::Filter;
    p.name = "fuzz";
    p.default_action = action(b);
    uint8_t abis = b.u8() % 7 + 1;
    p.abis.clear();
    if (abis & 1) p.abis.push_back(Abi::X86_64);
    if (abis & 2) p.abis.push_back(Abi::X32);
    if (abis & 4) p.abis.push_back(Abi::I386);
    int rules = 1 + b.u8() % 8;
    for (int i = 0; i < rules; ++i) {
        seccomp::Rule r;
        r.syscalls.push_back(kPool[b.u8() % std::size(kPool)]);
        if (b.u8() % 3 == 0) r.syscalls.push_back(kPool[b.u8() % std::size(kPool)]);
        r.action = action(b);
        r.conditional = b.u8() % 4 != 0;
        if (r.conditional) r.when = expr(b, 0);
        r.origin = "fuzz";
        p.rules.push_back(std::move(r));
    }
    filter::Compiled c;
    try {
        c = filter::compile(p);
    } catch (const Error&) {
        return 0;  // refused (a value wider than its argument, an unknown call on every ABI)
    }
    for (int sample = 0; sample < 32 && b.more(); ++sample) {
        uint8_t which = b.u8();
        Abi abi = which % 3 == 0 ? Abi::X86_64 : which % 3 == 1 ? Abi::X32 : Abi::I386;
        filter::SeccompInput in;
        in.arch = which % 11 == 0 ? AUDIT_ARCH_AARCH64 : filter::audit_arch(abi);
        auto nr = filter::syscall_number(abi, kPool[b.u8() % std::size(kPool)]);
        if (!nr) continue;
        in.nr = *nr;
        for (auto& a : in.args) a = value(b);
        bool listed = in.arch != AUDIT_ARCH_AARCH64 && std::count(p.abis.begin(), p.abis.end(), abi) > 0;
        auto r = filter::evaluate(c.program, in);
        if (!r.ok) std::abort();
        uint32_t want = filter::ret_value(direct(p, abi, listed, in.nr, in.args));
        if (r.action != want) {
            std::fprintf(stderr, "compiler and policy disagree: nr %u arch %x: program %x, policy %x\n", in.nr, in.arch,
                         r.action, want);
            std::abort();
        }
    }
    return 0;
}
