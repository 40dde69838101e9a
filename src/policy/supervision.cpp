#include "policy/supervision.hpp"

#include <algorithm>
#include <cstdio>

namespace caisson::supervision {

namespace {

// Calls that do the same thing under another name: a rule for one holds for all.
const std::vector<std::vector<std::string>> kSiblings = {
    {"execve", "execveat"},
    {"fork", "vfork", "clone", "clone3"},
    {"open", "openat", "openat2", "creat"},
};

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

Verdict State::decide(const std::string& syscall, double now_s) {
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
        watch.action = {seccomp::ActionKind::Notify, 0};
        watch.origin = r.origin;
        watches.push_back(std::move(watch));
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
