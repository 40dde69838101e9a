// Egress by name (--allow-host): the sandbox has only `lo`, and on it caisson's resolver
// and proxy, served by a process beside the supervisor in the host's network.
//
// - The resolver (UDP port 53, on 127.0.0.1 and on the host's name servers' addresses,
//   which the sandbox's resolv.conf names) answers an allowed name with an address of its
//   own from 198.18.0.0/16, one per name, after the host resolved the name; any other name
//   gets NXDOMAIN. AAAA questions get no records: the sandbox has no IPv6 way out.
// - A connection to such an address, on a port a rule allows for that name, is carried to
//   the name, at the addresses the host resolved (pinned when the question was answered).
//   If the program speaks TLS first, its server name must be that name; if it speaks HTTP,
//   its Host must be.
// - On 127.0.0.1:3128 (http_proxy and https_proxy point there) the proxy takes CONNECT
//   and absolute http:// requests, decided by the name asked for; a CONNECT's TLS server
//   name must match too; a plain request goes on with `Connection: close`.
// - Anything else has no route: raw addresses, other ports, UDP, IPv6.
//
// The proxy reads what the sandbox sends, so it runs with as little as it can: a program of
// its own (caisson-egress), exec'd with an empty environment, so nothing of its caller's
// memory is there; no capabilities, no_new_privs, as `nobody` when the caller is root, with
// nothing open but its sockets; its own seccomp filter and Landlock.
#pragma once

#include <caisson/policy.hpp>
#include <caisson/sandbox.hpp>

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace caisson::run {

namespace egress_wire {
struct Shared;
}

class EgressProxy {
public:
    // Made after the sandbox's clone and before its program starts. Throws caisson::Error.
    // `monitor_fd` (--monitor) gets a line per refusal, `audit_fd` (--audit) a JSON line;
    // -1 for none.
    EgressProxy(const Policy& policy, pid_t sandbox_pid, bool as_root, int monitor_fd = -1, int audit_fd = -1);
    ~EgressProxy();
    EgressProxy(const EgressProxy&) = delete;
    EgressProxy& operator=(const EgressProxy&) = delete;
    pid_t pid() const { return pid_; }
    NameEgressReport report() const;

private:
    void stop();  // the proxy killed and reaped, if it runs
    struct Unmap {
        void operator()(egress_wire::Shared* shared) const;
    };
    pid_t pid_ = -1;
    std::unique_ptr<egress_wire::Shared, Unmap> shared_;  // the proxy's counters, mapped
    std::vector<std::string> confinement_;  // what the proxy said held
};

}  // namespace caisson::run
