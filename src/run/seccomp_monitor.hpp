// The supervisor's side of seccomp user notifications. caisson compiles kill-process as a
// notification so that the call can be recorded before the sandbox is killed (the report
// then names it); `notify` rules are recorded and let through (an audit); `[[supervise]]`
// calls are decided by the policy's state (policy/supervision) and answered: let through,
// errno, or the whole sandbox killed. Each decision can go to an audit file as a JSON line.
#pragma once

#include "kernel/fd.hpp"
#include "policy/supervision.hpp"
#include "run/path_broker.hpp"

#include <caisson/sandbox.hpp>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <vector>

namespace caisson::run {

enum class NotifyVerdict { None, Continued, Refused, Kill };

class SeccompMonitor {
public:
    // `truth` is the program compiled with kill-process as itself: run in the evaluator on
    // the call, it says which rule fired. `audit_fd`: -1 for none.
    // `monitor_fd` (--monitor; -1 for none) gets one line per refusal as it happens.
    SeccompMonitor(const std::vector<sock_filter>& truth, std::vector<seccomp::Supervised> supervised, int audit_fd,
                   int monitor_fd = -1);
    uint64_t refused() const { return refused_; }
    // The program's start: its execve calls, made by caisson's own code with these
    // pointers, are let through uncounted until the program has started (init says so).
    void expect_start(std::vector<uint64_t> filenames, uint64_t argv) {
        start_filenames_ = std::move(filenames);
        start_argv_ = argv;
    }
    // (From the supervisor's thread while its notification thread decides: run/notify_thread.)
    void program_started() { started_.store(true, std::memory_order_release); }
    // `[open]` rules: opens the policy lets through are decided on their real path by the
    // opener at the other end of `opener`.
    void attach_opener(kernel::Fd opener, const seccomp::OpenRules& rules) { broker_.emplace(std::move(opener), rules); }
    // Whether this notification is one of the start's execve calls: before the start is
    // reported, with caisson's own pointers, each candidate once and in order, from a
    // process still running caisson's image (checked, then the notification re-validated).
    bool is_start(const seccomp_notif& n, int listener);
    // Reads one notification from `listener` and answers it; records into `out`. None: the
    // read failed, and errno says why (ENOENT: the caller went, or the filter's users).
    NotifyVerdict handle(int listener, Outcome& out);

private:
    void audit(const SyscallEvent& e, const std::string& decision, const std::string& rule, const std::string& why,
               const std::string& path = "");
    const std::vector<sock_filter>& truth_;
    std::optional<supervision::State> state_;
    std::optional<PathBroker> broker_;
    int audit_fd_;
    int monitor_fd_;
    uint64_t refused_ = 0;
    std::chrono::steady_clock::time_point start_;
    std::vector<uint64_t> start_filenames_;
    uint64_t start_argv_ = 0;
    std::atomic<bool> started_{false};
    size_t next_candidate_ = 0;
};

// What handle() recorded in `from` (another thread's record), added to `to`.
void add_record(Outcome& to, Outcome&& from);

}  // namespace caisson::run
