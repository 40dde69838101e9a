#include "mech/ptracers.hpp"

#include <caisson/error.hpp>

#include <dirent.h>
#include <linux/capability.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

namespace caisson::mech {
namespace {

bool same(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// CapBnd of /proc/PID/status; false when the process is gone.
bool bounding_of(pid_t pid, unsigned long long& out) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("CapBnd:", 0) == 0) return out = std::strtoull(line.c_str() + 7, nullptr, 16), true;
    return false;
}

}  // namespace

pid_t ptracer_in(const std::string& pidns_path, const std::vector<std::string>& userns_paths) {
    struct stat pidns{};
    if (::stat(pidns_path.c_str(), &pidns) < 0) throw Error(ErrorKind::Usage, "stat pid namespace", pidns_path, errno);
    std::vector<struct stat> users;
    for (const auto& p : userns_paths) {
        struct stat st{};
        if (::stat(p.c_str(), &st) < 0) throw Error(ErrorKind::Usage, "stat user namespace", p, errno);
        users.push_back(st);
    }
    DIR* d = ::opendir("/proc");
    if (!d) throw Error(ErrorKind::Setup, "open", "/proc", errno);
    pid_t found = 0;
    while (dirent* e = ::readdir(d)) {
        const pid_t pid = std::atoi(e->d_name);
        if (pid <= 0) continue;
        const std::string base = "/proc/" + std::to_string(pid) + "/ns/";
        struct stat its_pid{}, its_user{};
        // A process gone meanwhile is none of them.
        if (::stat((base + "pid").c_str(), &its_pid) < 0 || !same(its_pid, pidns)) continue;
        if (::stat((base + "user").c_str(), &its_user) < 0) continue;
        bool reaches = false;
        for (const auto& u : users) reaches |= same(u, its_user);
        unsigned long long bounding = 0;
        if (reaches && bounding_of(pid, bounding) && (bounding & (1ull << CAP_SYS_PTRACE))) {
            found = pid;
            break;
        }
    }
    ::closedir(d);
    return found;
}

}  // namespace caisson::mech
