// Probes that change the process they run in (a new namespace, a filter, an id) run in a
// forked copy of it: nothing they do reaches the caller. Used by `caisson doctor` and by
// the run path to measure, rather than guess, what this host allows.
#pragma once

#include <functional>

namespace caisson::mech {

// Runs `probe` in a forked child and returns what it returned (0 for success, an errno
// otherwise); EIO when the child died some other way, or the fork's errno.
int in_child(const std::function<int()>& probe);

}  // namespace caisson::mech
