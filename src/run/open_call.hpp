// The arguments of an open, openat, openat2 or creat the supervisor was notified of, in one
// shape: openat2's open_how read out of the caller's memory (a larger struct must be zero
// beyond the kernel's). Shared by the `[open]` broker and learn mode's recorder.
#pragma once

#include <fcntl.h>
#include <linux/types.h>
#include <sys/types.h>

#include <cstdint>
#include <string_view>

namespace caisson::run {

struct OpenCall {
    int dirfd = AT_FDCWD;
    uint64_t path = 0;  // the address of the path in the caller
    uint64_t flags = 0, mode = 0, resolve = 0;
    bool openat2 = false;
};

// 0, or the errno the kernel would answer (EINVAL, E2BIG, EFAULT).
int read_open_call(pid_t pid, std::string_view syscall, const __u64 args[6], OpenCall& out);

}  // namespace caisson::run
