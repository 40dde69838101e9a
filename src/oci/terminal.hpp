// process.terminal: the container's own pseudo-terminal, from its devpts, made the init's
// controlling terminal and stdio; its master goes to the client over the console socket
// (one message, SCM_RIGHTS), as runc sends it.
#pragma once

#include "oci/spec.hpp"
#include "run/failure.hpp"

namespace caisson::oci {

// In the container, after pivot_root. `console_socket` is connected to the client.
// With `console` (the container's init), the pty is also bound over /dev/console.
bool setup_terminal(int console_socket, const Process& p, bool console, run::Failure& f);

}  // namespace caisson::oci
