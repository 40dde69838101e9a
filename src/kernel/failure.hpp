// How code between clone and exec reports an error: fixed-size, no allocation. The step,
// the object it acted on, and errno, which the supervisor turns into caisson::Error.
#pragma once

#include "kernel/raw_log.hpp"

#include <caisson/error.hpp>

#include <cerrno>

namespace caisson::kernel {

struct Failure {
    char step[32] = {};
    char object[224] = {};
    int err = 0;
    ErrorKind kind = ErrorKind::Setup;

    // Records the failure (errno by default) and returns false, so callers can
    // `return f.set("mount proc", "/proc");`.
    bool set(const char* step_name, const char* obj, int error = errno, ErrorKind k = ErrorKind::Setup) {
        kernel::copy_cstr(step, step_name);
        kernel::copy_cstr(object, obj);
        err = error;
        kind = k;
        return false;
    }
};

}  // namespace caisson::kernel
