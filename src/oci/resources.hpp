// linux.resources translated into caisson's one resource model, then planned by the one
// planner (policy/cgroup_plan) that `caisson run` uses. Pure: `where` says which version
// serves each controller on this host.
#pragma once

#include "oci/spec.hpp"
#include "policy/cgroup_plan.hpp"

#include <map>
#include <string>

namespace caisson::oci {

// caisson's model of linux.resources. Throws caisson::Error (usage) naming a field that has
// no meaning (an unknown rdma limit).
caisson::Resources translate_resources(const Resources& r);

// Every controller the host has is joined (as runc does), so that pause, ps, kill --all and
// stats work whatever the limits. Throws caisson::Error (usage) naming the field when the
// host lacks what a field needs.
cgroup_plan::Plan plan_resources(const Resources& r, const std::map<std::string, cgroup_plan::Version>& where,
                                 bool update = false);

// cgroupsPath split into the parent (relative to each hierarchy's root) and the leaf name.
// Empty: "caisson/<id>". Throws for "..", or the systemd form "slice:prefix:name".
std::pair<std::string, std::string> cgroup_location(const std::string& cgroups_path, const std::string& id);

}  // namespace caisson::oci
