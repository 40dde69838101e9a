#include "mech/namespaces.hpp"

#include "mech/in_child.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string.h>

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

namespace {

// The first line of a file, "" when it cannot be read.
std::string first_line(const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string status_field(const char* key) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key, 0) == 0) return line.substr(line.find_first_not_of(" \t", std::string(key).size()));
    return "";
}

}  // namespace

std::string explain_namespace_refusal(int err, uint64_t flags, bool as_root) {
    const bool user = flags & CLONE_NEWUSER;
    std::string what = user ? "user namespaces" : "new namespaces";
    if (user && first_line("/proc/sys/user/max_user_namespaces") == "0")
        return what + " are disabled: user.max_user_namespaces is 0 (fix: sysctl -w user.max_user_namespaces=15000)";
    if (user && err == ENOSPC)
        return what + ": the limit user.max_user_namespaces (" + first_line("/proc/sys/user/max_user_namespaces") +
               ") is reached for this user";
    if (user && !as_root && first_line("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1")
        return what + " are restricted by AppArmor for ordinary users: kernel.apparmor_restrict_unprivileged_userns is 1 "
                      "(fix: an AppArmor profile allowing userns for caisson, or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)";
    if (user && !as_root && first_line("/proc/sys/kernel/unprivileged_userns_clone") == "0")
        return what + " are disabled for ordinary users: kernel.unprivileged_userns_clone is 0 (fix: sysctl -w kernel.unprivileged_userns_clone=1)";
    if (status_field("Seccomp:") == "2")
        return what + ": refused (" + strerrorname_np(err) + ") under the seccomp filter this process runs in, as in a container "
                      "that forbids them; --no-namespaces runs what the kernel still allows";
    if (!user && !as_root && err == EPERM) return what + " without a user namespace need root (EPERM)";
    return what + ": the kernel refused them (" + std::string(strerrorname_np(err)) + ")";
}

std::string namespaces_unavailable(uint64_t flags, int uid) {
    int err = in_child([&] {
        if (uid >= 0 && (::syscall(SYS_setresgid, uid, uid, uid) < 0 || ::syscall(SYS_setresuid, uid, uid, uid) < 0)) return errno;
        if ((flags & CLONE_NEWUSER) && ::unshare(CLONE_NEWUSER) < 0) return errno;
        uint64_t rest = flags & ~static_cast<uint64_t>(CLONE_NEWUSER);
        return rest && ::unshare(static_cast<int>(rest)) < 0 ? errno : 0;
    });
    if (err == 0) return "";
    return explain_namespace_refusal(err, flags, uid < 0 ? ::geteuid() == 0 : uid == 0);
}

}  // namespace caisson::mech
