#include "mech/namespaces.hpp"

#include <sched.h>

namespace caisson::mech {

uint64_t clone_flags(const Namespaces& ns) {
    uint64_t f = 0;
    if (ns.user) f |= CLONE_NEWUSER;
    if (ns.pid) f |= CLONE_NEWPID;
    if (ns.mount) f |= CLONE_NEWNS;
    if (ns.net) f |= CLONE_NEWNET;
    if (ns.uts) f |= CLONE_NEWUTS;
    if (ns.ipc) f |= CLONE_NEWIPC;
    if (ns.cgroup) f |= CLONE_NEWCGROUP;
    return f;
}

std::vector<std::string> namespace_names(const Namespaces& ns) {
    std::vector<std::string> out;
    if (ns.user) out.emplace_back("user-namespace");
    if (ns.pid) out.emplace_back("pid-namespace");
    if (ns.mount) out.emplace_back("mount-namespace");
    if (ns.net) out.emplace_back("net-namespace");
    if (!ns.net && !ns.net_path.empty()) out.emplace_back("net-namespace " + ns.net_path);
    if (ns.uts) out.emplace_back("uts-namespace");
    if (ns.ipc) out.emplace_back("ipc-namespace");
    if (ns.cgroup) out.emplace_back("cgroup-namespace");
    if (ns.time) out.emplace_back("time-namespace");
    return out;
}

}  // namespace caisson::mech
