// Snapshots of what caisson could leave on the machine, shared by the per-binary leak check
// and the soak: mounts in our namespace, /tmp/caisson* entries, cgroups naming caisson.
#pragma once

#include <sys/stat.h>

#include <cstdio>
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

// What veth networking and the network tests could leave: lease state under
// /run/caisson/net, links named caisson*, cs<hex address> or cth* (the tests' hosts), and
// nftables tables named caisson_*.
inline std::set<std::string> caisson_network_state() {
    std::set<std::string> out;
    std::error_code ec;
    std::filesystem::recursive_directory_iterator it("/run/caisson/net", ec), end;
    for (; it != end; it.increment(ec))
        if (!it->is_directory(ec)) out.insert(it->path().string());
    for (auto& l : std::filesystem::directory_iterator("/sys/class/net", ec)) {
        std::string n = l.path().filename().string();
        bool host_end = n.size() == 10 && n.rfind("cs", 0) == 0 &&
                        n.find_first_not_of("0123456789abcdef", 2) == std::string::npos;
        if (n.rfind("caisson", 0) == 0 || n.rfind("cstest", 0) == 0 || n.rfind("cth", 0) == 0 || host_end)
            out.insert("link " + n);
    }
    if (FILE* f = ::popen("nft list tables 2>/dev/null", "r")) {
        char line[256];
        while (std::fgets(line, sizeof(line), f))
            if (std::string(line).find(" caisson_") != std::string::npos) out.insert(std::string("nft ") + line);
        ::pclose(f);
    }
    return out;
}

// The owner and mode of the directories every user shares, which a test may write beneath
// but must never change: a chown of /tmp itself hands its sticky bit's power to that owner.
inline std::set<std::string> shared_directories() {
    std::set<std::string> out;
    for (const char* d : {"/", "/tmp", "/var", "/var/tmp", "/run", "/dev/shm"}) {
        struct stat st{};
        if (::lstat(d, &st) == 0)
            out.insert(std::string(d) + " " + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) + " " +
                       std::to_string(st.st_mode & 07777));
    }
    return out;
}

}  // namespace caisson::test
