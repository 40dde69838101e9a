// caisson listen: one fresh sandbox per TCP connection, the socket as its stdin and stdout
// (inetd style, as nsjail's listen mode).
#pragma once

#include <caisson/policy.hpp>

#include <string>

namespace caisson::cli {

struct ListenOptions {
    int port = 0;
    std::string bind = "0.0.0.0";  // an IPv4 or IPv6 address
    int max_conns = 100;           // sandboxes at once; more are refused
    int max_conns_per_ip = 0;      // 0: no limit
    int backlog = 128;
    double stop_timeout_s = 10;    // after SIGTERM: how long running sessions may finish
    std::string log_path;          // JSON lines; empty: standard error
    std::string pool;              // a warm pool's socket (caisson pool) that serves the sessions
};

// Binds, then serves until SIGTERM or SIGINT. Returns the exit status; throws caisson::Error
// for what fails before the first connection (an address that does not parse, a port in use).
int listen_command(const ListenOptions& options, const Policy& policy);

}  // namespace caisson::cli
