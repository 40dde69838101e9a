#include "mech/cgroup_detect.hpp"

#include <fstream>
#include <sstream>

namespace caisson::mech {

std::map<std::string, cgroup_plan::Version> CgroupLayout::where() const {
    std::map<std::string, cgroup_plan::Version> out;
    for (const auto& c : v2_controllers) out[c] = cgroup_plan::Version::V2;
    for (const auto& [c, path] : v1) out[c] = cgroup_plan::Version::V1;
    return out;
}

CgroupLayout detect_cgroups() {
    CgroupLayout l;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
        std::string id, parent, dev, root, mountpoint, fstype, source, super;
        head >> id >> parent >> dev >> root >> mountpoint;
        tail >> fstype >> source >> super;
        if (root != "/") continue;  // a bind of a subtree is not a hierarchy's root
        if (fstype == "cgroup2") {
            if (l.v2.empty()) l.v2 = mountpoint;
        } else if (fstype == "cgroup") {
            std::istringstream opts(super);
            std::string opt;
            while (std::getline(opts, opt, ','))
                if (opt != "rw" && opt != "ro" && opt.rfind("name=", 0) != 0 && opt != "clone_children" &&
                    opt.find('=') == std::string::npos && opt != "noprefix" && opt != "xattr")
                    l.v1.emplace(opt, mountpoint);
        }
    }
    if (!l.v2.empty()) {
        std::ifstream c(l.v2 + "/cgroup.controllers");
        std::string name;
        while (c >> name)
            if (!l.v1.count(name)) l.v2_controllers.insert(name);
    }
    return l;
}

}  // namespace caisson::mech
