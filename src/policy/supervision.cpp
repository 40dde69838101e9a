#include "policy/supervision.hpp"

#include "filter/bpf_eval.hpp"
#include "filter/condition.hpp"
#include "filter/syscall_table.hpp"

#include <caisson/error.hpp>

#include <linux/seccomp.h>

#include <algorithm>
#include <cstdio>

namespace caisson::supervision {

namespace {

// Calls that do the same thing under another name (or another ABI's name): a rule for one
// holds for all, or a program would go around it by the other spelling. The new mount API
// makes a mount in two calls, each counted: a budget errs towards refusing.
const std::vector<std::vector<std::string>> kSiblings = {
    {"execve", "execveat"},
    {"fork", "vfork", "clone", "clone3"},
    {"open", "openat", "openat2", "creat", "open_by_handle_at"},
    {"kill", "tkill", "tgkill", "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo"},
    {"mount", "fsmount", "open_tree", "move_mount", "mount_setattr"},
    {"dup", "dup2", "dup3"},
    {"accept", "accept4"},
    {"unlink", "unlinkat", "rmdir"},
    {"rename", "renameat", "renameat2"},
    {"link", "linkat"},
    {"symlink", "symlinkat"},
    {"mkdir", "mkdirat"},
    {"mknod", "mknodat"},
    {"chmod", "fchmod", "fchmodat", "fchmodat2"},
    {"chown", "fchown", "lchown", "fchownat", "chown32", "fchown32", "lchown32"},
    {"setuid", "setuid32"},
    {"setgid", "setgid32"},
    {"setreuid", "setreuid32"},
    {"setregid", "setregid32"},
    {"setresuid", "setresuid32"},
    {"setresgid", "setresgid32"},
    {"setgroups", "setgroups32"},
    {"setfsuid", "setfsuid32"},
    {"setfsgid", "setfsgid32"},
    {"truncate", "truncate64", "ftruncate", "ftruncate64"},
};

// A TCP connection opened without connect: Fast Open, a send with MSG_FASTOPEN (sendto's
// and sendmmsg's flags are their 4th argument, sendmsg's its 3rd). Decided as a connect.
constexpr const char* kFastOpen[][2] = {
    {"sendto", "arg3 & 0x20000000"}, {"sendmsg", "arg2 & 0x20000000"}, {"sendmmsg", "arg3 & 0x20000000"}};

bool is_fast_open_call(const std::string& name) {
    for (const auto& f : kFastOpen)
        if (name == f[0]) return true;
    return false;
}

std::vector<std::string> with_siblings(const std::vector<std::string>& names) {
    std::vector<std::string> out;
    auto add = [&](const std::string& s) {
        if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    };
    for (const auto& n : names) {
        add(n);
        for (const auto& group : kSiblings)
            if (std::find(group.begin(), group.end(), n) != group.end())
                for (const auto& g : group) add(g);
    }
    return out;
}

// The name a `before`/`after` condition counts a call under.
std::string family(const std::string& name) {
    for (const auto& group : kSiblings)
        if (std::find(group.begin(), group.end(), name) != group.end()) return group.front();
    return name;
}

}  // namespace

State::State(std::vector<seccomp::Supervised> rules) : rules_(std::move(rules)), counters_(rules_.size()) {
    for (auto& r : rules_) r.syscalls = with_siblings(r.syscalls);
}

std::vector<std::string> State::watched() const {
    std::vector<std::string> out;
    auto add = [&](const std::string& s) {
        if (!s.empty() && std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    };
    for (const auto& r : rules_) {
        for (const auto& s : r.syscalls) add(s);
        for (const auto* cond : {&r.before, &r.after})
            if (!cond->empty())
                for (const auto& s : with_siblings({*cond})) add(s);
    }
    return out;
}

Verdict State::decide(const std::string& call, double now_s) {
    // A Fast Open send reaches the supervisor as a connect, unless a rule names it itself.
    std::string syscall = call;
    if (is_fast_open_call(call) && std::none_of(rules_.begin(), rules_.end(), [&](const seccomp::Supervised& r) {
            return std::find(r.syscalls.begin(), r.syscalls.end(), call) != r.syscalls.end();
        }))
        syscall = "connect";
    Verdict v;
    for (size_t i = 0; i < rules_.size(); ++i) {
        const auto& r = rules_[i];
        if (std::find(r.syscalls.begin(), r.syscalls.end(), syscall) == r.syscalls.end()) continue;
        v.rule = static_cast<int>(i);
        Counter& c = counters_[i];
        auto refuse = [&](std::string why) {
            v.allow = false;
            v.action = r.then;
            v.why = std::move(why);
            return v;
        };
        if (!r.before.empty() && let_through_[family(r.before)] > 0) return refuse("only before " + r.before);
        if (!r.after.empty() && let_through_[family(r.after)] == 0) return refuse("only after " + r.after);
        if (r.max && c.allowed >= *r.max) return refuse("max " + std::to_string(*r.max) + " reached");
        if (r.rate) {
            // A bucket of `rate` tokens, refilled at `rate` per second.
            c.tokens = c.last_s < 0 ? *r.rate : std::min(*r.rate, c.tokens + (now_s - c.last_s) * *r.rate);
            c.last_s = now_s;
            if (c.tokens < 1) {
                char text[48];
                std::snprintf(text, sizeof(text), "rate %g/s exceeded", *r.rate);
                return refuse(text);
            }
            c.tokens -= 1;
        }
        ++c.allowed;
        break;
    }
    ++let_through_[family(syscall)];
    return v;
}

const std::vector<std::string>& path_calls() {
    static const std::vector<std::string> calls = {
        "open",   "openat",    "openat2",   "creat",  "link",    "linkat",  "rename", "renameat", "renameat2", "symlink",
        "symlinkat", "mkdir", "mkdirat", "mknod", "mknodat", "unlink", "unlinkat", "rmdir", "truncate"};
    return calls;
}

seccomp::Policy with_supervision(const seccomp::Policy& p) {
    seccomp::Policy filtered = p;
    // One notify rule per entry, so that a bad name is reported at the entry's place.
    std::vector<seccomp::Rule> watches;
    for (const auto& r : p.supervised) {
        seccomp::Rule watch;
        std::vector<std::string> names = r.syscalls;
        for (const auto* s : {&r.before, &r.after})
            if (!s->empty()) names.push_back(*s);
        watch.syscalls = with_siblings(names);
        // Of the siblings, only the names this policy's ABIs have (setuid32 is i386's); the
        // entry's own names are the compiler's to check.
        std::erase_if(watch.syscalls, [&](const std::string& n) {
            return std::find(names.begin(), names.end(), n) == names.end() && std::none_of(p.abis.begin(), p.abis.end(), [&](seccomp::Abi abi) { return filter::syscall_number(abi, n).has_value(); });
        });
        watch.action = {seccomp::ActionKind::Notify, 0};
        watch.origin = r.origin;
        const bool connects = std::find(watch.syscalls.begin(), watch.syscalls.end(), "connect") != watch.syscalls.end();
        watches.push_back(std::move(watch));
        if (connects)
            for (const auto& [name, when] : kFastOpen) {
                seccomp::Rule fast;
                fast.syscalls = {name};
                fast.action = {seccomp::ActionKind::Notify, 0};
                fast.conditional = true;
                fast.when = filter::parse_condition(when);
                fast.when_text = when;
                fast.origin = r.origin;
                watches.push_back(std::move(fast));
            }
    }
    if (p.open.enabled()) {
        seccomp::Rule watch;
        watch.syscalls = path_calls();
        watch.action = {seccomp::ActionKind::Notify, 0};
        watch.origin = p.open.origin;
        watches.push_back(std::move(watch));
    }
    filtered.rules.insert(filtered.rules.begin(), watches.begin(), watches.end());
    return filtered;
}

void refuse_bypasses(const seccomp::Policy& p, std::span<const sock_filter> program) {
    if (p.supervised.empty() && !p.open.enabled()) return;
    auto action = filter::action_by_number(program, "io_uring_setup");
    // Anything but a refusal by number: some io_uring_setup could get through.
    const bool refused = action && (*action & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_ALLOW &&
                         (*action & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_LOG && (*action & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_USER_NOTIF;
    if (!refused)
        throw Error::usage("seccomp policy '" + p.name + "': [[supervise]] and [open] rules cannot hold while io_uring_setup is "
                           "allowed (io_uring connects and opens without a system call the filter sees): deny it");
}

std::string describe(const seccomp::Supervised& r) {
    std::string s;
    for (const auto& c : r.syscalls) s += (s.empty() ? "" : ", ") + c;
    s += ":";
    if (r.max) s += " max " + std::to_string(*r.max) + ",";
    if (r.rate) {
        char text[32];
        std::snprintf(text, sizeof(text), " rate %g/s,", *r.rate);
        s += text;
    }
    if (!r.before.empty()) s += " only before " + r.before + ",";
    if (!r.after.empty()) s += " only after " + r.after + ",";
    return s + " then " + seccomp::action_text(r.then) + " (" + r.origin + ")";
}

}  // namespace caisson::supervision
