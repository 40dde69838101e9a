// One error type for everything outside the fork/exec window: the step that failed, the
// object it acted on, and errno. Its message is one line.
#pragma once

#include <stdexcept>
#include <string>

namespace caisson {

enum class ErrorKind {
    Usage,   // a bad flag, profile or config: nothing ran
    Setup,   // the kernel refused a step while building the sandbox
    Exec,    // the program could not be started
};

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, std::string step, std::string object, int err = 0);
    static Error usage(std::string what, std::string object = {}) {
        return Error(ErrorKind::Usage, std::move(what), std::move(object), 0);
    }
    ErrorKind kind() const { return kind_; }
    const std::string& step() const { return step_; }
    const std::string& object() const { return object_; }
    int err() const { return err_; }

private:
    ErrorKind kind_;
    std::string step_;
    std::string object_;
    int err_;
};

// Exit codes of caisson itself, apart from the program's own (documented in the README).
inline constexpr int kExitUsage = 125;     // bad input or setup failure: nothing was left running
inline constexpr int kExitCannotExec = 126;
inline constexpr int kExitNotFound = 127;

}  // namespace caisson
