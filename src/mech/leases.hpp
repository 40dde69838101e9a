// Who uses a caisson bridge: one lease file per sandbox address under
// /run/caisson/net/<bridge>/, naming the supervisor (pid and start time) and its published
// ports, all read and changed under an exclusive flock. A lease whose supervisor is gone is
// stale; the bridge and its NAT go when no live lease is left.
#pragma once

#include "kernel/fd.hpp"

#include <caisson/policy.hpp>

#include <sys/types.h>

#include <string>
#include <vector>

namespace caisson::mech {

struct Lease {
    std::string address;  // dotted IPv4
    pid_t owner = 0;
    std::string owner_start;
    std::vector<PortMapping> publish;
};

class LeaseDir {
public:
    // Creates the directory and takes the lock (blocking). Throws caisson::Error.
    explicit LeaseDir(const std::string& bridge);
    std::vector<Lease> list() const;
    void write(const Lease& l) const;
    void remove(const std::string& address) const;
    static bool alive(const Lease& l);
    const std::string& path() const { return dir_; }
    // Markers: this bridge's first user turned IPv4 forwarding on ("forwarding"); caisson
    // made the bridge itself ("bridge"), and so may change and remove it.
    bool marked(const char* what) const;
    void mark(const char* what, bool on) const;
    bool forwarding_marked() const { return marked("forwarding"); }
    void mark_forwarding(bool on) const { mark("forwarding", on); }
    // With no lease left: the directory goes (the lock is held until this object goes).
    void remove_dir() const;

private:
    std::string dir_;
    kernel::Fd lock_;
};

}  // namespace caisson::mech
