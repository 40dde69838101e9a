#include "filter/seccomp_compiler.hpp"

#include "filter/bpf_asm.hpp"
#include "filter/condition.hpp"
#include "filter/syscall_table.hpp"

#include <caisson/error.hpp>

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <algorithm>
#include <map>
#include <optional>

namespace caisson::filter {
namespace {

using seccomp::Action;
using seccomp::ActionKind;
using seccomp::Expr;
using seccomp::Op;

constexpr uint32_t kNrOffset = 0;
constexpr uint32_t kArchOffset = 4;
constexpr uint32_t arg_low(unsigned i) { return 16 + 8 * i; }
constexpr uint32_t arg_high(unsigned i) { return 20 + 8 * i; }

enum class Tri { False, True, Unknown };

Tri negate(Tri t) { return t == Tri::Unknown ? t : (t == Tri::True ? Tri::False : Tri::True); }

// What can be known about a condition without the arguments: (arg & m) ranges over
// [0, m], so some comparisons are settled by the constants alone.
Tri static_value(const Expr& e) {
    switch (e.kind) {
    case Expr::Kind::True: return Tri::True;
    case Expr::Kind::Not: return negate(static_value(e.kids[0]));
    case Expr::Kind::And:
    case Expr::Kind::Or: {
        bool is_and = e.kind == Expr::Kind::And;
        bool all = true;
        for (const auto& k : e.kids) {
            Tri t = static_value(k);
            if (t == (is_and ? Tri::False : Tri::True)) return t;
            if (t == Tri::Unknown) all = false;
        }
        return all ? (is_and ? Tri::True : Tri::False) : Tri::Unknown;
    }
    case Expr::Kind::Cmp: {
        uint64_t width = e.low32 ? 0xffffffffull : ~0ull;
        uint64_t m = e.mask & width, v = e.value & width;
        switch (e.op) {
        case Op::Eq:
        case Op::Ne: {
            Tri eq = (v & ~m) ? Tri::False : (m == 0 ? Tri::True : Tri::Unknown);
            return e.op == Op::Eq ? eq : negate(eq);
        }
        case Op::Lt: return v == 0 ? Tri::False : (v > m ? Tri::True : Tri::Unknown);
        case Op::Le: return v >= m ? Tri::True : Tri::Unknown;
        case Op::Gt: return v >= m ? Tri::False : Tri::Unknown;
        case Op::Ge: return v == 0 ? Tri::True : (v > m ? Tri::False : Tri::Unknown);
        }
    }
    }
    return Tri::Unknown;
}

// A 64-bit constant fits a 32-bit argument when its high half is zero or the sign
// extension of its low half (-1 is fine for an int).
bool fits_32(uint64_t v) {
    uint64_t high = v >> 32;
    return high == 0 || (high == 0xffffffffull && (v & 0x80000000ull));
}

// The rule's condition as compiled for one syscall on one ABI: only the bits the kernel
// reads of each argument are compared (32 for an int, 16 for a umode_t, all 32 of every
// argument on a 32-bit ABI), so that garbage above them cannot slip past a rule.
Expr effective(const Expr& e, std::string_view syscall, seccomp::Abi abi, const seccomp::Rule& rule,
               std::vector<std::string>& warnings) {
    Expr out = e;
    if (out.kind == Expr::Kind::Cmp) {
        int bits = argument_bits(syscall, out.arg);
        if (abi == seccomp::Abi::I386 && (bits == 0 || bits > 32)) bits = 32;
        if (bits == 0)
            warnings.push_back(rule.origin + ": the width of " + std::string(syscall) + "'s argument " +
                               std::to_string(out.arg) + " is unknown to caisson: all 64 bits are compared (write "
                               "low32(arg" + std::to_string(out.arg) + ") if the kernel reads an int)");
        if (bits == 16 || bits == 32) out.low32 = true;
        std::string what = "'" + rule.when_text + "': the value does not fit " + std::string(syscall) + "'s " +
                           std::to_string(bits == 16 ? 16 : 32) + "-bit argument " + std::to_string(out.arg);
        if (out.low32 && (!fits_32(out.value) || !fits_32(out.mask))) throw Error::usage(rule.origin + ": " + what);
        if (bits == 16) {
            if ((out.value & 0xffffffffull) > 0xffff) throw Error::usage(rule.origin + ": " + what);
            out.mask &= 0xffff;
        }
    }
    for (auto& k : out.kids) k = effective(k, syscall, abi, rule, warnings);
    return out;
}

struct Step {
    Expr when;
    Action action;
};

struct Entry {
    uint32_t nr = 0;
    std::string name;
    std::vector<Step> steps;            // conditional rules before the deciding one
    std::optional<Action> terminal;     // an unconditional rule, if any
    const seccomp::Rule* terminal_rule = nullptr;
};

class Codegen {
public:
    Codegen(const CompileOptions& o, Action default_action) : opt_(o), default_(default_action) {}

    Assembler a;

    uint32_t ret_of(const Action& act) const {
        // Not ENOSYS: "not implemented here" is an answer libraries probe for (glibc's clone3 at
        // every thread) and fall back from, not a refusal worth a round trip and a line.
        if (opt_.errno_via_notify && act.kind == ActionKind::Errno && act.value != ENOSYS) return SECCOMP_RET_USER_NOTIF;
        return ret_value(act, opt_.kill_process_via_notify);
    }

    // One ABI's dispatch, with the syscall number already in A. `numbers_from` is the
    // lowest number of the ABI (0, or the x32 bit); `upper` is where a range leaf jumps for
    // numbers from `upper_start` on (the x32 branch), or none.
    void dispatch(const std::map<uint32_t, Entry>& entries, uint32_t numbers_from, std::optional<uint32_t> upper_start,
                  std::optional<Label> upper) {
        std::vector<const Entry*> complex;
        std::vector<Segment> segments;
        segments.push_back({numbers_from, ret_of(default_), {}});
        for (const auto& [nr, e] : entries) {
            if (!e.steps.empty()) {
                complex.push_back(&e);
                continue;
            }
            add_segment(segments, nr, ret_of(*e.terminal));
            add_segment(segments, nr + 1, ret_of(default_));
        }
        if (upper_start) {
            Segment s{*upper_start, 0, upper};
            if (segments.back().lo >= *upper_start) throw Error(ErrorKind::Setup, "seccomp compiler", "range overlap", 0);
            segments.push_back(s);
        }
        // Argument-dependent syscalls first: these are the calls the filter really runs for.
        Label ranges = a.label();
        std::vector<Label> chains;
        for (size_t i = 0; i < complex.size(); ++i) chains.push_back(a.label());
        if (!complex.empty()) points(complex, chains, 0, complex.size(), ranges);
        for (size_t i = 0; i < complex.size(); ++i) {
            a.bind(chains[i]);
            chain(*complex[i]);
        }
        a.bind(ranges);
        tree(segments, 0, segments.size());
    }

private:
    struct Segment {
        uint32_t lo;
        uint32_t ret;
        std::optional<Label> jump;  // instead of ret
        bool same(const Segment& o) const {
            return jump.has_value() == o.jump.has_value() && (jump ? jump->id == o.jump->id : ret == o.ret);
        }
    };
    const CompileOptions& opt_;
    Action default_;

    static void add_segment(std::vector<Segment>& segs, uint32_t lo, uint32_t ret) {
        Segment s{lo, ret, {}};
        if (segs.back().lo == lo) segs.back() = s;
        else segs.push_back(s);
        // Neighbours with the same outcome merge; with them the argument-dependent
        // numbers, which the point dispatch has already taken.
        while (segs.size() >= 2 && segs[segs.size() - 2].same(segs.back())) segs.pop_back();
    }

    void points(const std::vector<const Entry*>& c, const std::vector<Label>& chains, size_t lo, size_t hi, Label miss) {
        if (hi - lo <= 3) {
            for (size_t i = lo; i < hi; ++i) {
                Label next = i + 1 < hi ? a.label() : miss;
                a.jump_if(BPF_JEQ, c[i]->nr, chains[i], next);
                if (i + 1 < hi) a.bind(next);
            }
            return;
        }
        size_t mid = (lo + hi) / 2;
        Label right = a.label(), left = a.label();
        a.jump_if(BPF_JGE, c[mid]->nr, right, left);
        a.bind(left);
        points(c, chains, lo, mid, miss);
        a.bind(right);
        points(c, chains, mid, hi, miss);
    }

    void tree(const std::vector<Segment>& s, size_t lo, size_t hi) {
        if (hi - lo == 1) {
            if (s[lo].jump) a.jump(*s[lo].jump);
            else a.ret(s[lo].ret);
            return;
        }
        size_t mid = (lo + hi) / 2;
        Label right = a.label(), left = a.label();
        a.jump_if(BPF_JGE, s[mid].lo, right, left);
        a.bind(left);
        tree(s, lo, mid);
        a.bind(right);
        tree(s, mid, hi);
    }

    void chain(const Entry& e) {
        for (const auto& step : e.steps) {
            Label yes = a.label(), no = a.label();
            cond(step.when, yes, no);
            a.bind(yes);
            a.ret(ret_of(step.action));
            a.bind(no);
        }
        a.ret(ret_of(e.terminal ? *e.terminal : default_));
    }

    void cmp32(Op op, uint32_t k, Label t, Label f) {
        switch (op) {
        case Op::Eq: a.jump_if(BPF_JEQ, k, t, f); break;
        case Op::Ne: a.jump_if(BPF_JEQ, k, f, t); break;
        case Op::Gt: a.jump_if(BPF_JGT, k, t, f); break;
        case Op::Ge: a.jump_if(BPF_JGE, k, t, f); break;
        case Op::Lt: a.jump_if(BPF_JGE, k, f, t); break;
        case Op::Le: a.jump_if(BPF_JGT, k, f, t); break;
        }
    }

    void load(uint32_t offset, uint32_t mask) {
        a.load_word(offset);
        if (mask != 0xffffffffu) a.and_k(mask);
    }

    void cond(const Expr& e, Label t, Label f) {
        switch (e.kind) {
        case Expr::Kind::True: a.jump(t); return;
        case Expr::Kind::Not: cond(e.kids[0], f, t); return;
        case Expr::Kind::And:
        case Expr::Kind::Or:
            for (size_t i = 0; i < e.kids.size(); ++i) {
                if (i + 1 == e.kids.size()) {
                    cond(e.kids[i], t, f);
                } else {
                    Label next = a.label();
                    if (e.kind == Expr::Kind::And) cond(e.kids[i], next, f);
                    else cond(e.kids[i], t, next);
                    a.bind(next);
                }
            }
            return;
        case Expr::Kind::Cmp: break;
        }
        const uint32_t vl = static_cast<uint32_t>(e.value), vh = static_cast<uint32_t>(e.value >> 32);
        const uint32_t ml = static_cast<uint32_t>(e.mask), mh = static_cast<uint32_t>(e.mask >> 32);
        if (e.low32) {
            load(arg_low(e.arg), ml);
            cmp32(e.op, vl, t, f);
            return;
        }
        // Unsigned 64-bit comparisons as two 32-bit ones: the high halves decide unless
        // they are equal, then the low halves do.
        bool negated = e.op == Op::Ne || e.op == Op::Lt || e.op == Op::Le;
        Label yes = negated ? f : t, no = negated ? t : f;
        Label low = a.label();
        load(arg_high(e.arg), mh);
        if (e.op == Op::Eq || e.op == Op::Ne) {
            a.jump_if(BPF_JEQ, vh, low, no);
            a.bind(low);
            load(arg_low(e.arg), ml);
            a.jump_if(BPF_JEQ, vl, yes, no);
            return;
        }
        // Gt (and Le = !Gt), Ge (and Lt = !Ge).
        bool strict = e.op == Op::Gt || e.op == Op::Le;
        Label equal_high = a.label();
        a.jump_if(BPF_JGT, vh, yes, equal_high);
        a.bind(equal_high);
        a.jump_if(BPF_JEQ, vh, low, no);
        a.bind(low);
        load(arg_low(e.arg), ml);
        a.jump_if(strict ? BPF_JGT : BPF_JGE, vl, yes, no);
    }
};

std::map<uint32_t, Entry> entries_for(const seccomp::Policy& p, seccomp::Abi abi, std::vector<std::string>& warnings) {
    std::map<uint32_t, Entry> out;
    for (const auto& rule : p.rules) {
        for (const auto& name : rule.syscalls) {
            auto nr = syscall_number(abi, name);
            if (!nr) continue;  // checked against every ABI by the caller
            Entry& e = out[*nr];
            e.nr = *nr;
            e.name = name;
            if (e.terminal) {
                warnings.push_back(rule.origin + ": the rule for '" + name + "' never applies: the rule at " +
                                   e.terminal_rule->origin + " decides every " + name + " call first");
                continue;
            }
            if (!rule.conditional) {
                e.terminal = rule.action;
                e.terminal_rule = &rule;
                continue;
            }
            Expr when = effective(rule.when, name, abi, rule, warnings);
            Tri t = static_value(when);
            if (t == Tri::False) {
                warnings.push_back(rule.origin + ": the condition '" + rule.when_text + "' can never be true for " + name);
                continue;
            }
            if (t == Tri::True) {
                warnings.push_back(rule.origin + ": the condition '" + rule.when_text + "' is always true for " + name);
                e.terminal = rule.action;
                e.terminal_rule = &rule;
                continue;
            }
            e.steps.push_back({std::move(when), rule.action});
        }
    }
    for (auto& [nr, e] : out) {
        Action final_action = e.terminal ? *e.terminal : p.default_action;
        // Conditions that all lead where the fall-through leads decide nothing.
        if (std::all_of(e.steps.begin(), e.steps.end(), [&](const Step& s) { return s.action == final_action; })) {
            e.steps.clear();
            e.terminal = final_action;
        }
    }
    return out;
}

std::string abi_names(const std::vector<seccomp::Abi>& abis) {
    std::string out;
    for (size_t i = 0; i < abis.size(); ++i)
        out += (i == 0 ? "" : i + 1 == abis.size() ? " or " : ", ") + std::string(seccomp::abi_name(abis[i]));
    return out;
}

// On i386 the socket and System V IPC calls are also reached through socketcall(2) and
// ipc(2), whose arguments are in memory a filter cannot read, and libseccomp's tables name
// the direct calls only through those. A rule that restricts one of them cannot hold there.
void check_multiplexed(const seccomp::Policy& p) {
    static const std::vector<std::string_view> kMultiplexed = {
        "socket", "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername", "socketpair",
        "send", "sendto", "recv", "recvfrom", "shutdown", "setsockopt", "getsockopt", "sendmsg", "recvmsg",
        "recvmmsg", "sendmmsg", "semop", "semget", "semctl", "semtimedop", "msgsnd", "msgrcv", "msgget",
        "msgctl", "shmat", "shmdt", "shmget", "shmctl"};
    for (const auto& rule : p.rules) {
        if (rule.action.kind == ActionKind::Allow && !rule.conditional) continue;
        for (const auto& name : rule.syscalls)
            if (std::find(kMultiplexed.begin(), kMultiplexed.end(), name) != kMultiplexed.end())
                throw Error::usage(rule.origin + ": on i386, " + name +
                                   " is also reached through socketcall(2) or ipc(2), whose arguments a filter "
                                   "cannot read: this rule cannot hold there; drop i386 from 'abi'");
    }
}

}  // namespace

uint32_t ret_value(const Action& a, bool kill_process_via_notify) {
    switch (a.kind) {
    case ActionKind::Allow: return SECCOMP_RET_ALLOW;
    case ActionKind::Errno: return SECCOMP_RET_ERRNO | (a.value & SECCOMP_RET_DATA);
    case ActionKind::KillThread: return SECCOMP_RET_KILL_THREAD;
    case ActionKind::KillProcess: return kill_process_via_notify ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_KILL_PROCESS;
    case ActionKind::Trap: return SECCOMP_RET_TRAP;
    case ActionKind::Log: return SECCOMP_RET_LOG;
    case ActionKind::Trace: return SECCOMP_RET_TRACE | (a.value & SECCOMP_RET_DATA);
    case ActionKind::Notify: return SECCOMP_RET_USER_NOTIF;
    }
    return SECCOMP_RET_KILL_PROCESS;
}

Action action_of(uint32_t ret) {
    uint16_t data = static_cast<uint16_t>(ret & SECCOMP_RET_DATA);
    switch (ret & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW: return {ActionKind::Allow, 0};
    case SECCOMP_RET_ERRNO: return {ActionKind::Errno, data};
    case SECCOMP_RET_KILL_THREAD: return {ActionKind::KillThread, 0};
    case SECCOMP_RET_TRAP: return {ActionKind::Trap, 0};
    case SECCOMP_RET_LOG: return {ActionKind::Log, 0};
    case SECCOMP_RET_TRACE: return {ActionKind::Trace, data};
    case SECCOMP_RET_USER_NOTIF: return {ActionKind::Notify, 0};
    default: return {ActionKind::KillProcess, 0};
    }
}

Compiled compile(const seccomp::Policy& p, const CompileOptions& opt) {
    Compiled out;
    if (p.mode == seccomp::Mode::None) return out;
    using seccomp::Abi;
    auto has = [&](Abi abi) { return std::find(p.abis.begin(), p.abis.end(), abi) != p.abis.end(); };
    if (p.abis.empty()) throw Error::usage("seccomp policy '" + p.name + "': 'abi' lists no ABI");

    // Every name must exist on at least one of the policy's ABIs.
    for (const auto& rule : p.rules)
        for (const auto& name : rule.syscalls)
            if (std::none_of(p.abis.begin(), p.abis.end(), [&](Abi abi) { return syscall_number(abi, name).has_value(); }))
                throw Error::usage(rule.origin + ": unknown system call '" + name + "' on " + abi_names(p.abis));

    std::map<Abi, std::map<uint32_t, Entry>> per_abi;
    for (Abi abi : {Abi::X86_64, Abi::X32, Abi::I386})
        if (has(abi)) per_abi[abi] = entries_for(p, abi, out.warnings);
    if (has(Abi::I386) && !opt.allow_multiplexed) check_multiplexed(p);
    // The same warning once, however many ABIs raised it.
    std::sort(out.warnings.begin(), out.warnings.end());
    out.warnings.erase(std::unique(out.warnings.begin(), out.warnings.end()), out.warnings.end());

    Codegen g(opt, p.default_action);
    Assembler& a = g.a;
    const uint32_t kill = SECCOMP_RET_KILL_PROCESS;
    Label other_arch = a.label();
    a.load_word(kArchOffset);
    if (has(Abi::X86_64) || has(Abi::X32)) {
        Label x86_64 = a.label(), x32 = a.label();
        a.jump_if(BPF_JEQ, AUDIT_ARCH_X86_64, x86_64, other_arch);
        a.bind(x86_64);
        a.load_word(kNrOffset);
        // Numbers with the x32 bit fall in the tree's last range, which goes to the x32
        // dispatch or is killed.
        if (has(Abi::X86_64)) {
            g.dispatch(per_abi[Abi::X86_64], 0, kX32SyscallBit, x32);
        } else {
            Label native = a.label();
            a.jump_if(BPF_JGE, kX32SyscallBit, x32, native);
            a.bind(native);
            a.ret(kill);
        }
        a.bind(x32);
        if (has(Abi::X32)) g.dispatch(per_abi[Abi::X32], kX32SyscallBit, std::nullopt, std::nullopt);
        else a.ret(kill);
    }
    a.bind(other_arch);
    if (has(Abi::I386)) {
        Label i386 = a.label(), unknown = a.label();
        a.jump_if(BPF_JEQ, AUDIT_ARCH_I386, i386, unknown);
        a.bind(i386);
        a.load_word(kNrOffset);
        g.dispatch(per_abi[Abi::I386], 0, std::nullopt, std::nullopt);
        a.bind(unknown);
    }
    a.ret(kill);
    out.program = a.finish();

    for (auto& [abi, entries] : per_abi) {
        for (auto& [nr, e] : entries) {
            SyscallDecision d;
            d.abi = abi;
            d.nr = nr;
            d.name = e.name;
            d.by_number = e.steps.empty();
            d.action = e.terminal ? *e.terminal : p.default_action;
            d.conditional_rules = e.steps.size();
            out.decisions.push_back(std::move(d));
        }
    }
    return out;
}

}  // namespace caisson::filter
