#include "run/container_process.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/checked_open.hpp"
#include "mech/landlock.hpp"
#include "mech/seccomp.hpp"
#include "run/container_monitor.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace caisson::run {
namespace {

std::string env_value(const std::vector<std::string>& env, const char* name) {
    size_t n = std::strlen(name);
    for (const auto& e : env)
        if (e.size() > n && e.compare(0, n, name) == 0 && e[n] == '=') return e.substr(n + 1);
    return {};
}

// The home directory of `uid` in the container's /etc/passwd (looked up inside the root),
// "/" when it has none: what runc gives a process whose environment has no HOME.
std::string home_of(uid_t uid) {
    kernel::Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    // A regular file only: the image's device node or FIFO there is never opened (the device
    // cgroup does not apply yet at create).
    kernel::Fd fd(root ? mech::open_checked(root.get(), "etc/passwd", O_RDONLY, mech::is_regular) : -1);
    if (!fd) return "/";
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0 && text.size() < (1u << 20)) text.append(buf, static_cast<size_t>(n));
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream in(line);
        for (std::string field; std::getline(in, field, ':');) fields.push_back(field);
        if (fields.size() >= 6 && fields[2] == std::to_string(uid) && !fields[5].empty()) return fields[5];
    }
    return "/";
}

// Right after the change of ids, which set dumpability back to fs.suid_dumpable: until exec
// this is still the runtime's image, and the init may wait at the start barrier for long, so
// a process of the same uid (an `exec`) could ptrace it past Landlock and the stacked filter.
// A config filter already in place may refuse prctl: then it must be non-dumpable already
// (fs.suid_dumpable 0, the default), or the process does not start.
bool not_dumpable(void*, kernel::Failure& f) {
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0) return true;
    int err = errno;
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0) return true;
    return f.set("prctl", "PR_SET_DUMPABLE after the change of ids", err);
}

}  // namespace

bool resolve_executable(ContainerProcess& p, kernel::Failure& f) {
    if (env_value(p.env, "HOME").empty()) p.env.push_back("HOME=" + home_of(p.uid));
    const std::string& name = p.args[0];
    auto runnable = [](const std::string& path, int& err) {
        struct stat st{};
        if (::stat(path.c_str(), &st) < 0) return err = errno, false;
        if (S_ISDIR(st.st_mode)) return err = EACCES, false;
        return true;
    };
    int err = ENOENT;
    if (name.find('/') != std::string::npos) {
        if (runnable(name, err)) return p.executable = name, true;
        return f.set("exec", (err == ENOENT ? "exec: \"" + name + "\": stat " + name + ": no such file or directory"
                                            : "exec: \"" + name + "\"").c_str(), err, ErrorKind::Exec);
    }
    std::string path = env_value(p.env, "PATH");
    if (path.empty()) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (size_t start = 0; start <= path.size();) {
        size_t end = path.find(':', start);
        if (end == std::string::npos) end = path.size();
        std::string dir = path.substr(start, end - start);
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        int e = 0;
        if (runnable(candidate, e)) return p.executable = candidate, true;
        if (e != ENOENT && e != ENOTDIR) err = e;
        start = end + 1;
    }
    return f.set("exec", ("exec: \"" + name + "\": executable file not found in $PATH").c_str(), err == ENOENT ? ENOENT : err,
                 ErrorKind::Exec);
}

bool prepare_process(ContainerProcess& p, int* listener, kernel::Failure& f) {
    p.steps.pass_fds.clear();
    for (unsigned fd = 3; fd < 3 + p.preserve_fds; ++fd) p.steps.pass_fds.push_back(static_cast<int>(fd));
    bool filtered = false;
    return take_program_steps(p.steps, {p.runtime_fds[0], p.runtime_fds[1], p.monitor_fd}, listener, &filtered, f,
                              {not_dumpable, nullptr});
}

bool exec_process(ContainerProcess& p, kernel::Failure& f) {
    // caisson's own additions, last: after the start handshake and the face's hooks, so that
    // neither runs under them; no_new_privs is set, so no privilege is needed.
    if (p.landlock && !mech::apply_landlock(*p.landlock, f)) return false;
    if (!p.stacked_seccomp.empty()) {
        // Supervised calls wait in the kernel for the monitor: the listener goes to it now,
        // and a process that cannot hand it over does not start (fail closed).
        int listener = -1;
        if (!mech::install_seccomp(p.stacked_seccomp, p.monitor_fd >= 0 ? &listener : nullptr, f)) return false;
        if (p.monitor_fd >= 0 && !send_to_monitor(p.monitor_fd, listener))
            return f.set("send seccomp listener", "caisson's container monitor");
    }
    std::vector<char*> argv, envp;
    for (const auto& a : p.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::string home = "HOME=/";
    for (const auto& e : p.env) envp.push_back(const_cast<char*>(e.c_str()));
    if (env_value(p.env, "HOME").empty()) envp.push_back(home.data());
    envp.push_back(nullptr);
    ::execve(p.executable.c_str(), argv.data(), envp.data());
    return f.set("exec", ("exec: \"" + p.args[0] + "\"").c_str(), errno, ErrorKind::Exec);
}

bool set_cpu_affinity(const std::vector<uint16_t>& cpus, const char* what, kernel::Failure& f) {
    if (cpus.empty()) return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (uint16_t cpu : cpus) CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof(set), &set) < 0) return f.set("sched_setaffinity", what);
    return true;
}

}  // namespace caisson::run
