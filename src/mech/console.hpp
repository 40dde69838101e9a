// A sandbox's own terminal (OCI's process.terminal): a pseudo-terminal from the sandbox's
// devpts, made the process's controlling terminal and stdio; its master goes to the client
// over a console socket (one message, SCM_RIGHTS), as runc sends it.
#pragma once

#include "kernel/failure.hpp"

#include <sys/types.h>

#include <optional>
#include <utility>

namespace caisson::mech {

struct ConsoleSpec {
    std::optional<std::pair<unsigned, unsigned>> size;  // rows, columns
    uid_t uid = 0;  // the pty's owner: the process's user
    gid_t gid = 0;
    bool bind_dev_console = false;  // the pty also over /dev/console (a container's init)
    // Made the caller's controlling terminal (it leads a session without one); false: a
    // process it clones takes it later (take_controlling_terminal).
    bool controlling = true;
};

// In the sandbox, after pivot_root. `console_socket` is connected to the client.
bool open_console(int console_socket, const ConsoleSpec& c, kernel::Failure& f);

// The terminal at `fd` as the controlling terminal of the caller, which leads a session
// without one.
bool take_controlling_terminal(int fd, kernel::Failure& f);

}  // namespace caisson::mech
