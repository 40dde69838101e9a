// A warm pool: sandboxes built ahead of time, up to the point just before their program's
// exec, each used by exactly one program and never again (caisson pool; caisson run --pool).
//
// The pool's policy is fixed. A run asks with its own policy, and is refused, naming what
// differs, unless that policy is the pool's but for the command line and the report's path:
// it is never started with the pool's policy instead of its own. The program's environment
// is the run's (as `caisson run` would make it, TERM and LANG from the caller), and its
// standard streams are the caller's, passed over the socket.
#pragma once

#include <caisson/policy.hpp>
#include <caisson/sandbox.hpp>

#include <string>

namespace caisson {

struct PoolOptions {
    std::string socket;  // a unix socket path, made with mode 0600 (the server's user only)
    unsigned size = 2;   // sandboxes kept ready
};

// Serves `policy` until SIGINT or SIGTERM; runs in progress then finish. Throws
// caisson::Error for a policy a pool cannot serve (a terminal, passed descriptors, a
// supervised execve) or a socket it cannot make. Returns the exit code.
int serve_pool(const Policy& policy, const PoolOptions& options);

// Runs `policy`'s program in a sandbox of the pool at `socket`, forwarding SIGINT, SIGTERM,
// SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it. The outcome carries how the program ended; the
// report (the JSON --report writes) goes to *report_json when given. Throws caisson::Error:
// usage when the pool refuses the policy (naming what differs) or is not there.
Outcome run_in_pool(const std::string& socket, const Policy& policy, std::string* report_json = nullptr);

}  // namespace caisson
