#include "policy/supervision.hpp"

#include <algorithm>
#include <cstdio>

namespace caisson::supervision {

State::State(std::vector<seccomp::Supervised> rules) : rules_(std::move(rules)), counters_(rules_.size()) {}

std::vector<std::string> State::watched() const {
    std::vector<std::string> out;
    auto add = [&](const std::string& s) {
        if (!s.empty() && std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    };
    for (const auto& r : rules_) {
        for (const auto& s : r.syscalls) add(s);
        add(r.before);
        add(r.after);
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
        if (!r.before.empty() && let_through_[r.before] > 0) return refuse("only before " + r.before);
        if (!r.after.empty() && let_through_[r.after] == 0) return refuse("only after " + r.after);
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
    ++let_through_[syscall];
    return v;
}

}  // namespace caisson::supervision
