// Snapshots of what caisson could leave on the machine, shared by the per-binary leak check
// and the soak: mounts in our namespace, /tmp/caisson* entries, cgroups naming caisson.
#pragma once

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace caisson::test {

inline std::set<std::string> mount_lines() {
    std::set<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // Drop the mount id and parent id, which do not identify a mount across snapshots.
        std::istringstream f(line);
        std::string id, parent, rest;
        f >> id >> parent;
        std::getline(f, rest);
        out.insert(rest);
    }
    return out;
}

inline std::set<std::string> tmp_entries() {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator("/tmp", ec))
        if (e.path().filename().string().rfind("caisson", 0) == 0) out.insert(e.path().string());
    return out;
}

inline std::set<std::string> caisson_cgroups() {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& h : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
        std::filesystem::recursive_directory_iterator it(h.path(), ec), end;
        for (; it != end; it.increment(ec)) {
            if (it.depth() > 2) it.disable_recursion_pending();
            if (it->is_directory(ec) && it->path().filename().string().find("caisson") != std::string::npos)
                out.insert(it->path().string());
        }
    }
    return out;
}

}  // namespace caisson::test
