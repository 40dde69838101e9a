// The supervisor's side of --net veth: asks caisson-net (src/net) to wire the sandbox's
// network namespace to the bridge before the program starts, and to release it at the end.
// A supervisor killed before that leaves a lease that the next `up` or `caisson gc` removes.
#pragma once

#include <caisson/policy.hpp>

#include <sys/types.h>

#include <string>

namespace caisson::mech {

class VethLink {
public:
    // Throws caisson::Error with the helper's one-line message.
    VethLink(const Network& net, pid_t sandbox_pid);
    ~VethLink();
    VethLink(const VethLink&) = delete;
    VethLink& operator=(const VethLink&) = delete;
    const std::string& address() const { return address_; }  // ADDR/PREFIX
    const std::string& gateway() const { return gateway_; }

private:
    std::string helper_, bridge_, address_, gateway_;
    bool published_ = false;
};

// The helper's path (CAISSON_NET_HELPER, beside caisson, or the installed one).
std::string net_helper();

}  // namespace caisson::mech
