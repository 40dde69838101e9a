// Learn mode's in-kernel recorder, for root (src/bpf/learn_trace.bpf.c, built by clang,
// loaded with libbpf): tracepoints count the system calls of the sandbox's programs, and
// the argument values learn keeps, as they are made. The seccomp filter then hands only the
// calls whose pointers learn reads (opens, connect, bind, sendto) to the supervisor: the
// other calls cost no round trip.
#pragma once

#include <caisson/sandbox.hpp>

#include <memory>

namespace caisson::mech {

class LearnTrace {
public:
    // Loads and attaches the programs. Throws caisson::Error when the kernel refuses them
    // (learn mode then notifies every call instead).
    LearnTrace();
    ~LearnTrace();
    LearnTrace(const LearnTrace&) = delete;
    LearnTrace& operator=(const LearnTrace&) = delete;
    // Counts the processes of this cgroup v2 directory from now on.
    void watch(int cgroup_fd);
    // Adds what was counted to out.syscalls_seen and out.syscall_arg_values.
    void collect(Outcome& out) const;

private:
    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace caisson::mech
