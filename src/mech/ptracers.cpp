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

// Whether a thread of the process (the sets are each thread's own: one may keep what the
// leader dropped) could use CAP_SYS_PTRACE against a newcomer and gain by it: it holds the
// capability (effective, permitted or ambient; PR_CAPBSET_DROP leaves those), or could gain
// it by an exec (in its bounding set, without no_new_privs: a setuid-root or file-capability
// program), and does not already hold CAP_SYS_ADMIN (a privileged container, or another
// runtime's init mid-create, which has nothing to gain from ours). A zombie holds nothing.
// Gone meanwhile: false. Any other failure to read it: true (fail closed).
bool may_trace(pid_t pid) {
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = ::opendir(tasks.c_str());
    if (!d) return errno != ENOENT && errno != ESRCH;
    bool found = false;
    constexpr unsigned long long ptrace = 1ull << CAP_SYS_PTRACE, admin = 1ull << CAP_SYS_ADMIN;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream in(tasks + "/" + e->d_name + "/status");
        if (!in) continue;  // a thread that ended
        bool zombie = false, nnp = false;
        unsigned long long held = 0, bounding = 0;
        for (std::string line; std::getline(in, line);) {
            auto value = [&] { return std::strtoull(line.c_str() + 7, nullptr, 16); };
            if (line.rfind("State:", 0) == 0) zombie = line.find('Z') != std::string::npos;
            else if (line.rfind("CapEff:", 0) == 0 || line.rfind("CapPrm:", 0) == 0 || line.rfind("CapAmb:", 0) == 0) held |= value();
            else if (line.rfind("CapBnd:", 0) == 0) bounding = value();
            else if (line.rfind("NoNewPrivs:", 0) == 0) nnp = std::atoi(line.c_str() + 11) != 0;
        }
        if (zombie || (held & admin)) continue;
        if ((held & ptrace) || (!nnp && (bounding & ptrace))) {
            found = true;
            break;
        }
    }
    ::closedir(d);
    return found;
}

}  // namespace

pid_t ptracer_in(const std::vector<std::string>& userns_paths) {
    struct stat host_pidns{};
    if (::stat("/proc/self/ns/pid", &host_pidns) < 0) throw Error(ErrorKind::Setup, "stat", "/proc/self/ns/pid", errno);
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
        // Gone meanwhile (ENOENT, ESRCH): none of them. One the runtime may not look into
        // (EACCES: a host's policy guards it, as some hosts guard their pid 1; a container's
        // process cannot make itself so to root): not a container's. Unreadable otherwise:
        // counted (fail closed).
        bool unreadable = false;
        if (::stat((base + "pid").c_str(), &its_pid) < 0 || ::stat((base + "user").c_str(), &its_user) < 0) {
            if (errno == ENOENT || errno == ESRCH || errno == EACCES) continue;
            unreadable = true;
        }
        // The host's own processes (its pid namespace) are the host's: only a container's
        // process, in any pid namespace but the host's, is one to fear.
        if (!unreadable && same(its_pid, host_pidns)) continue;
        bool reaches = unreadable;
        for (const auto& u : users) reaches |= same(u, its_user);
        if (reaches && may_trace(pid)) {
            found = pid;
            break;
        }
    }
    ::closedir(d);
    return found;
}

}  // namespace caisson::mech
