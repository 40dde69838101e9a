// The supervisor's side of seccomp user notifications. caisson compiles kill-process as a
// notification so that the call can be recorded before the sandbox is killed (the report
// then names it); `notify` rules are recorded and let through (an audit), until the
// stateful supervisor of a later issue decides them.
#pragma once

#include <caisson/sandbox.hpp>

#include <linux/filter.h>

#include <vector>

namespace caisson::run {

enum class NotifyVerdict { None, Continued, Kill };

// Reads one notification from `listener` and answers it. `truth` is the program compiled
// with kill-process as itself: run in the evaluator on the call, it says which rule
// fired. Records into `out`.
NotifyVerdict handle_notification(int listener, const std::vector<sock_filter>& truth, Outcome& out);

}  // namespace caisson::run
