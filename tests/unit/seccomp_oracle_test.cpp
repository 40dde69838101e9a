// libseccomp as the oracle: for random policies in the language both share (per syscall,
// an OR of AND-ed 64-bit comparisons, one action), caisson's program and libseccomp's
// must decide every sampled (syscall, arguments) the same way.
#include "filter/bpf_eval.hpp"
#include "filter/condition.hpp"
#include "filter/seccomp_compiler.hpp"
#include "filter/syscall_table.hpp"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <random>

namespace caisson {
namespace {

using seccomp::Action;
using seccomp::ActionKind;
using seccomp::Expr;
using seccomp::Op;

// Syscalls whose arguments the kernel reads as full 64-bit values, so that both compilers
// compare all 64 bits.
const char* const kPool[] = {"mmap", "mprotect", "munmap", "brk", "mremap", "mlock", "munlock", "mincore",
                             "remap_file_pages"};

const uint64_t kEdges[] = {0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, 0x100000001,
                           0x7fffffffffffffff, 0x8000000000000000, 0xffffffff00000000, 0xffffffffffffffff};

struct Cmp {
    unsigned arg;
    scmp_compare op;
    uint64_t a, b;
};

struct Generated {
    seccomp::Policy policy;
    std::vector<std::pair<std::string, std::vector<std::vector<Cmp>>>> rules;  // per syscall: OR of ANDs
    std::vector<uint32_t> actions;
    uint32_t default_action;
};

uint32_t scmp_action(const Action& a) { return filter::ret_value(a); }

Action random_action(std::mt19937_64& rng) {
    switch (rng() % 5) {
    case 0: return {ActionKind::Allow, 0};
    case 1: return {ActionKind::Errno, static_cast<uint16_t>(1 + rng() % 40)};
    case 2: return {ActionKind::KillProcess, 0};
    case 3: return {ActionKind::Trap, 0};
    default: return {ActionKind::Log, 0};
    }
}

uint64_t random_value(std::mt19937_64& rng) {
    switch (rng() % 3) {
    case 0: return kEdges[rng() % std::size(kEdges)];
    case 1: return rng() & 0xffff;
    default: return rng();
    }
}

Generated generate(std::mt19937_64& rng) {
    Generated g;
    Action def = random_action(rng);
    g.policy.mode = seccomp::Mode::Filter;
    g.policy.name = "random";
    g.policy.default_action = def;
    std::vector<const char*> pool(std::begin(kPool), std::end(kPool));
    std::shuffle(pool.begin(), pool.end(), rng);
    size_t n = 1 + rng() % 8;
    for (size_t i = 0; i < n; ++i) {
        Action act;
        do act = random_action(rng);
        while (act == def);
        std::vector<std::vector<Cmp>> ors;
        // Three shapes whose meaning libseccomp defines: unconditional; one rule of AND-ed
        // comparisons; several equality rules on one argument (a set). (Several rules with
        // ordered comparisons are merged by libseccomp 2.5.4 into a tree that can drop a
        // matching rule: the kernel confirms it; see the note of issue 4.)
        static const scmp_compare ops[] = {SCMP_CMP_EQ, SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE,
                                           SCMP_CMP_GT, SCMP_CMP_GE, SCMP_CMP_MASKED_EQ};
        switch (rng() % 3) {
        case 0: break;
        case 1: {
            std::vector<Cmp> ands;
            std::vector<unsigned> args = {0, 1, 2, 3, 4, 5};
            std::shuffle(args.begin(), args.end(), rng);
            size_t n_cmp = 1 + rng() % 3;
            for (size_t c = 0; c < n_cmp; ++c) {
                Cmp cmp{args[c], ops[rng() % std::size(ops)], random_value(rng), random_value(rng)};
                if (cmp.op == SCMP_CMP_MASKED_EQ) cmp.b &= cmp.a;  // otherwise it can never match
                ands.push_back(cmp);
            }
            ors.push_back(ands);
            break;
        }
        default: {
            unsigned arg = static_cast<unsigned>(rng() % 6);
            for (size_t n = 2 + rng() % 4; n > 0; --n) ors.push_back({Cmp{arg, SCMP_CMP_EQ, random_value(rng), 0}});
            break;
        }
        }
        g.rules.emplace_back(pool[i], ors);
        g.actions.push_back(scmp_action(act));
        // The same in caisson's model: one rule per AND-group, all with the action.
        auto to_expr = [](const Cmp& c) {
            Expr e;
            e.kind = Expr::Kind::Cmp;
            e.arg = c.arg;
            switch (c.op) {
            case SCMP_CMP_EQ: e.op = Op::Eq; e.value = c.a; break;
            case SCMP_CMP_NE: e.op = Op::Ne; e.value = c.a; break;
            case SCMP_CMP_LT: e.op = Op::Lt; e.value = c.a; break;
            case SCMP_CMP_LE: e.op = Op::Le; e.value = c.a; break;
            case SCMP_CMP_GT: e.op = Op::Gt; e.value = c.a; break;
            case SCMP_CMP_GE: e.op = Op::Ge; e.value = c.a; break;
            default: e.op = Op::Eq; e.mask = c.a; e.value = c.b; break;
            }
            return e;
        };
        if (ors.empty()) {
            seccomp::Rule rule;
            rule.syscalls = {pool[i]};
            rule.action = act;
            g.policy.rules.push_back(rule);
        }
        for (const auto& ands : ors) {
            seccomp::Rule rule;
            rule.syscalls = {pool[i]};
            rule.action = act;
            rule.conditional = true;
            rule.origin = "generated";
            if (ands.size() == 1) {
                rule.when = to_expr(ands[0]);
            } else {
                rule.when.kind = Expr::Kind::And;
                for (const auto& c : ands) rule.when.kids.push_back(to_expr(c));
            }
            g.policy.rules.push_back(rule);
        }
    }
    g.default_action = scmp_action(def);
    return g;
}

std::vector<sock_filter> libseccomp_program(const Generated& g) {
    std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(g.default_action), seccomp_release);
    EXPECT_TRUE(ctx);
    EXPECT_EQ(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), 0);
    for (size_t i = 0; i < g.rules.size(); ++i) {
        int nr = seccomp_syscall_resolve_name(g.rules[i].first.c_str());
        if (g.rules[i].second.empty()) {
            EXPECT_EQ(seccomp_rule_add_array(ctx.get(), g.actions[i], nr, 0, nullptr), 0);
        }
        for (const auto& ands : g.rules[i].second) {
            std::vector<scmp_arg_cmp> cmps;
            for (const auto& c : ands) cmps.push_back({c.arg, c.op, c.a, c.b});
            int rc = seccomp_rule_add_array(ctx.get(), g.actions[i], nr, static_cast<unsigned>(cmps.size()), cmps.data());
            EXPECT_EQ(rc, 0) << g.rules[i].first;
        }
    }
    int fd = ::memfd_create("oracle", MFD_CLOEXEC);
    EXPECT_EQ(seccomp_export_bpf(ctx.get(), fd), 0);
    off_t len = ::lseek(fd, 0, SEEK_END);
    std::vector<sock_filter> prog(static_cast<size_t>(len) / sizeof(sock_filter));
    EXPECT_EQ(::pread(fd, prog.data(), static_cast<size_t>(len), 0), len);
    ::close(fd);
    return prog;
}

TEST(SeccompOracle, AgreesWithLibseccompOnRandomPolicies) {
    std::mt19937_64 rng(20261128);
    size_t compared = 0;
    for (int round = 0; round < 300; ++round) {
        Generated g = generate(rng);
        auto ours = filter::compile(g.policy);
        auto theirs = libseccomp_program(g);
        ASSERT_FALSE(theirs.empty());
        for (const char* name : kPool) {
            // Arguments near the policy's constants, where comparisons flip.
            std::vector<uint64_t> near;
            for (const auto& [syscall, ors] : g.rules)
                for (const auto& ands : ors)
                    for (const auto& c : ands)
                        for (uint64_t d : {c.a - 1, c.a, c.a + 1, c.b, c.a & c.b}) near.push_back(d);
            for (int sample = 0; sample < 40; ++sample) {
                filter::SeccompInput in;
                in.arch = AUDIT_ARCH_X86_64;
                in.nr = static_cast<uint32_t>(seccomp_syscall_resolve_name(name));
                for (auto& a : in.args)
                    a = (!near.empty() && rng() % 2) ? near[rng() % near.size()] : random_value(rng);
                auto a = filter::evaluate(ours.program, in);
                auto b = filter::evaluate(theirs, in);
                ASSERT_TRUE(a.ok && b.ok) << a.error << b.error;
                if (a.action != b.action)
                    for (const auto& r : g.policy.rules)
                        ADD_FAILURE() << r.syscalls[0] << " " << seccomp::action_text(r.action) << " if "
                                      << (r.conditional ? filter::condition_text(r.when) : "-");
                ASSERT_EQ(a.action, b.action) << "default " << seccomp::action_text(g.policy.default_action) << " round " << round << " " << name << " args " << in.args[0] << ","
                                              << in.args[1] << "," << in.args[2] << "," << in.args[3] << "," << std::hex << in.args[4] << "," << in.args[5];
                ++compared;
            }
        }
    }
    EXPECT_GT(compared, 100000u);
}

}  // namespace
}  // namespace caisson
