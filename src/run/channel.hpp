// The setup channel between the supervisor and the sandbox's init: a SOCK_SEQPACKET pair,
// one fixed-size message per token, descriptors passed with SCM_RIGHTS. Allocation-free,
// so the child may use it between clone and exec.
#pragma once

#include "mech/fd_passing.hpp"
#include "run/failure.hpp"

#include <cstddef>
#include <cstdint>

namespace caisson::run {

enum class MsgType : uint32_t {
    Go = 1,       // supervisor -> init: maps are written, descriptors attached
    Failed = 2,   // init -> supervisor: a setup step failed (the Failure)
    Started = 3,  // init -> supervisor: the program was exec'd; carries the step timings
    Exited = 4,   // init -> supervisor: the program's wait status
    Ready = 5,    // OCI init -> runtime: set up, waiting for `start` (seccomp listener attached)
    Hooks = 6,    // OCI init -> runtime: namespaces made; run prestart/createRuntime hooks
    Listener = 7, // program -> supervisor, before exec: the seccomp listener (SCM_RIGHTS)
    Program = 8,  // supervisor -> a held init: the program (a packet follows) and its stdio (SCM_RIGHTS)
};

struct StepSample {
    char name[20];
    uint32_t us;
};

inline constexpr size_t kMaxSteps = 16;
inline constexpr size_t kMaxPassedFds = mech::kMaxPassedFds;

struct Message {
    MsgType type{};
    int32_t wait_status = 0;
    Failure failure;
    uint32_t n_steps = 0;
    StepSample steps[kMaxSteps] = {};
    bool into_cgroup = false;  // Started by a clone helper: the process was born in its cgroup
};

// One fixed-size packet with up to kMaxPassedFds descriptors, for any of the project's
// wire structs. Same returns as below.
bool send_packet(int sock, const void* data, size_t size, const int* fds = nullptr, size_t nfds = 0);
int recv_packet(int sock, void* data, size_t size, int* fds = nullptr, size_t* nfds = nullptr);

// Returns false (errno set) on failure.
bool send_message(int sock, const Message& m, const int* fds = nullptr, size_t nfds = 0);

// Returns 1 for a message, 0 at end of stream, -1 on error (errno set). Received descriptors
// land in fds[0..*nfds) (close-on-exec), the rest of fds untouched.
int recv_message(int sock, Message& m, int* fds = nullptr, size_t* nfds = nullptr);

// The child's side of a failed step: the Failure to the other end, then _exit(exit_code).
// Allocation-free.
[[noreturn]] void report_failure(int sock, const Failure& f, int exit_code);

// The parent's side: the child's Failure as the caisson::Error it stands for (an exec
// failure as ErrorKind::Exec naming the program).
[[noreturn]] void throw_failure(const Failure& f);

}  // namespace caisson::run
