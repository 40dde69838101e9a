// The supervisor's decisions on `[[supervise]]` calls: budgets, rates and order, kept per
// sandbox. Pure: it is told the call and the time, and says what to answer; the kernel side
// (run/seccomp_monitor) reads the notification and sends the answer.
#pragma once

#include <caisson/seccomp.hpp>

#include <linux/filter.h>

#include <map>
#include <span>
#include <string>
#include <vector>

namespace caisson::supervision {

struct Verdict {
    bool allow = true;
    seccomp::Action action;  // when !allow: the rule's `then`
    int rule = -1;           // index into the rules, -1 for a call only observed
    std::string why;         // "max 2 reached", "before execve", ...
};

class State {
public:
    explicit State(std::vector<seccomp::Supervised> rules);
    // `syscall` as the syscall table names it; `now_s` from a monotonic clock.
    Verdict decide(const std::string& syscall, double now_s);
    const std::vector<seccomp::Supervised>& rules() const { return rules_; }
    // Every syscall name the filter must hand to the supervisor: the rules' own, and those
    // their `before`/`after` conditions watch.
    std::vector<std::string> watched() const;

private:
    struct Counter {
        uint64_t allowed = 0;
        double tokens = 0;
        double last_s = -1;
    };
    std::vector<seccomp::Supervised> rules_;
    std::vector<Counter> counters_;
    std::map<std::string, uint64_t> let_through_;  // by syscall name
};

// The calls `[open]` rules decide: every open, and every call that changes what a name
// reaches (a link, a rename, a new or removed name, a truncation).
const std::vector<std::string>& path_calls();

// The policy the filter enforces: `p` with the supervised calls, and those their conditions
// watch, handed to the supervisor (notify) in front of every rule.
seccomp::Policy with_supervision(const seccomp::Policy& p);

// What would go around the supervisor: io_uring makes connects, opens and the rest without a
// system call the filter sees. Throws caisson::Error (usage) when `program` (the compiled
// policy) lets io_uring_setup through and the policy has [[supervise]] or [open] rules.
void refuse_bypasses(const seccomp::Policy& p, std::span<const sock_filter> program);

// One line per entry: "clone, clone3: max 3, then errno(EAGAIN) (file:line:col)".
std::string describe(const seccomp::Supervised& r);

}  // namespace caisson::supervision
