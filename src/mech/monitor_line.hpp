// A line for a person watching (--monitor), written so that the watcher cannot stop the
// sandbox: never waiting on a stream that is full (the line is dropped), and no SIGPIPE
// from one whose reader has gone (that would kill caisson, and leave its cgroup behind).
#pragma once

#include "policy/printable.hpp"

#include <string>

namespace caisson::mech {

// True when the whole line went out.
bool write_line_unblocked(int fd, const std::string& line);

// What the sandbox sent or named, for such a line (and a report): policy/printable.
using caisson::printable;

}  // namespace caisson::mech
