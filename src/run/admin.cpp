#include <caisson/admin.hpp>

#include "mech/cgroup.hpp"
#include "mech/cgroup_detect.hpp"
#include "mech/companion.hpp"
#include "mech/veth.hpp"

#include <caisson/error.hpp>

#include <unistd.h>

#include <sstream>

namespace caisson {

std::vector<std::string> collect_leftovers(const std::string& cgroup_parent, bool network) {
    std::vector<std::string> removed;
    for (const auto& path : mech::collect_stale(mech::detect_cgroups(), cgroup_parent, cgroup_parent == "caisson"))
        removed.push_back(path);
    // veth networking's leases, bridges and NAT tables, through its helper.
    if (network && ::access("/run/caisson/net", F_OK) == 0) {
        // As root, a helper of root's alone, as `run --net veth` takes it: one found beside a
        // copy of caisson in a directory others may write would run as root.
        const std::string helper = ::geteuid() == 0 ? mech::require_root_owned(mech::net_helper(), "caisson gc: the network helper")
                                                    : mech::net_helper();
        auto r = mech::run_companion({helper, "gc"});
        if (r.status != 0) throw Error(ErrorKind::Setup, "caisson-net gc", r.err.substr(0, r.err.find('\n')));
        std::istringstream lines(r.out);
        for (std::string line; std::getline(lines, line);)
            if (!line.empty()) removed.push_back(line.rfind("removed ", 0) == 0 ? line.substr(8) : line);
    }
    return removed;
}

void set_frozen(pid_t supervisor, const std::string& cgroup_parent, bool frozen) {
    mech::set_frozen(mech::detect_cgroups(), cgroup_parent, supervisor, frozen);
}

}  // namespace caisson
