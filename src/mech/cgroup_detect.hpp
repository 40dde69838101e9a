// Which cgroup hierarchies this host has: cgroup v1 controllers mounted one by one (or
// co-mounted), a cgroup2 hierarchy with its controllers, or both (a hybrid, such as
// /sys/fs/cgroup/<controller> beside /sys/fs/cgroup/unified).
#pragma once

#include "policy/cgroup_plan.hpp"

#include <map>
#include <set>
#include <string>

namespace caisson::mech {

struct CgroupLayout {
    std::map<std::string, std::string> v1;  // controller -> mount point
    std::string v2;                         // the cgroup2 mount point, or empty
    std::set<std::string> v2_controllers;   // what v2's root offers (cgroup.controllers)
    const char* mode() const { return v2.empty() ? (v1.empty() ? "none" : "v1") : (v1.empty() ? "v2" : "hybrid"); }
    // Each controller to the version that serves it; v1 first where both claim one.
    std::map<std::string, cgroup_plan::Version> where() const;
};

CgroupLayout detect_cgroups();

}  // namespace caisson::mech
