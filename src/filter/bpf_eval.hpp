// A userspace interpreter for seccomp's classic BPF: runs any program (caisson's or
// libseccomp's) on one (arch, nr, args) input. The tests, `caisson policy check` and
// `caisson policy test` use it to see what the kernel would decide.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace caisson::filter {

struct SeccompInput {
    uint32_t nr = 0;
    uint32_t arch = 0;
    uint64_t instruction_pointer = 0;
    uint64_t args[6] = {};
};

struct EvalResult {
    bool ok = false;          // false: the program is invalid (see error)
    uint32_t action = 0;      // the SECCOMP_RET_* value returned
    bool reads_args = false;  // the path read the arguments or the instruction pointer
    size_t steps = 0;         // instructions executed
    std::string error;
};

// With args_known false, evaluation stops at the first load beyond nr and arch, as the
// kernel's action cache does when it decides whether a syscall's result is constant.
EvalResult evaluate(std::span<const sock_filter> program, const SeccompInput& in, bool args_known = true);

// The action (SECCOMP_RET_ACTION_FULL bits) an x86_64 call gets by its number alone, whatever
// its arguments, or none when the arguments decide (or the program is invalid). Starting a
// program under a filter needs execve and an exit allowed this way.
std::optional<uint32_t> action_by_number(std::span<const sock_filter> program, std::string_view syscall);

}  // namespace caisson::filter
