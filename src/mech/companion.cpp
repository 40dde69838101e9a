#include "mech/companion.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/self_exe.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

extern char** environ;

namespace caisson::mech {

std::string companion_path(const char* name, const char* env_var, const char* installed) {
    if (const char* env = std::getenv(env_var)) return env;
    char self[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    // A binary re-executed from a protected copy (mech/self_exe) says where it was.
    std::string path = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string();
    if (const char* from = std::getenv(kReexecFromVar); from && from[0] == '/') path = from;
    if (!path.empty() && path.find('/') != std::string::npos) {
        std::string dir = path;
        dir.erase(dir.rfind('/'));
        if (::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
    }
    return installed;
}

std::string require_root_owned(const std::string& path, const char* step) {
    char real[PATH_MAX];
    if (!::realpath(path.c_str(), real)) throw Error(ErrorKind::Setup, step, path, errno);
    const std::string file = real;
    // The file, and every directory above it up to /: whoever may rename one of them (its
    // owner, or anyone where it is writable and not sticky) could put another file at this
    // path between the check and the exec.
    std::vector<std::pair<std::string, bool>> judged{{file, true}};
    for (std::string dir = file; dir.size() > 1;) {
        dir.erase(std::max<size_t>(dir.rfind('/'), 1));
        judged.emplace_back(dir, false);
    }
    for (const auto& [what, regular] : judged) {
        struct stat st{};
        if (::stat(what.c_str(), &st) < 0) throw Error(ErrorKind::Setup, step, what, errno);
        const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) && !(!regular && (st.st_mode & S_ISVTX));
        if ((regular && !S_ISREG(st.st_mode)) || st.st_uid != 0 || others_write) {
            char mode[8];
            std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
            throw Error(ErrorKind::Setup, step,
                        what + " must be " + (regular ? "a file" : "a directory") + " owned by root that no one else may write (owner " +
                            std::to_string(st.st_uid) + ", mode " + mode + ")");
        }
    }
    return file;
}

pid_t spawn_clean(const char* step, const std::string& path, char* const argv[], char* const envp[], const posix_spawn_file_actions_t* fa,
                  bool new_session) {
    posix_spawnattr_t attr;
    if (int rc = posix_spawnattr_init(&attr); rc != 0) throw Error(ErrorKind::Setup, step, path, rc);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (new_session ? POSIX_SPAWN_SETSID : 0)));
    pid_t pid = -1;
    if (rc == 0) rc = ::posix_spawn(&pid, path.c_str(), fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw Error(ErrorKind::Setup, step, path, rc);
    return pid;
}

CompanionResult run_companion(const std::vector<std::string>& argv) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) < 0) throw Error(ErrorKind::Setup, "pipe", argv[0], errno);
    kernel::Fd out_r(out[0]), out_w(out[1]);
    if (::pipe2(err, O_CLOEXEC) < 0) throw Error(ErrorKind::Setup, "pipe", argv[0], errno);
    kernel::Fd err_r(err[0]), err_w(err[1]);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    try {
        pid = spawn_clean("start", argv[0], args.data(), environ, &fa, false);
    } catch (...) {
        posix_spawn_file_actions_destroy(&fa);
        throw;
    }
    posix_spawn_file_actions_destroy(&fa);
    out_w.reset();
    err_w.reset();

    CompanionResult r;
    pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
    int open = 2;
    while (open > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (!fds[i].revents) continue;
            char buf[4096];
            ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
            if (n > 0) (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
            else if (n == 0 || errno != EINTR) fds[i].fd = -1, --open;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw Error(ErrorKind::Setup, "waitpid", argv[0], errno);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

pid_t fork_tethered(const char* what, const std::string& path, const std::vector<std::string>& argv, int stderr_fd,
                    const std::vector<int>& fds, int cgroup_procs_fd) {
    if (argv.empty()) throw Error::usage(std::string(what) + ": no command");
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    char* no_env[] = {nullptr};
    std::vector<int> high(fds.size() + 1, -1);  // allocated here: the child of a threaded caller must not
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorKind::Setup, "fork", what, errno);
    if (pid > 0) return pid;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::getppid() != parent) ::_exit(127);
    // Into its cgroup before anything of its own runs ("0": the writer).
    // A failure says so on the helper's stderr, which its caller quotes (no allocation here).
    if (cgroup_procs_fd >= 0 && ::write(cgroup_procs_fd, "0", 1) != 1) {
        char line[96] = "could not join its cgroup (write cgroup.procs): errno ";
        size_t n = std::strlen(line);
        char digits[12];
        int len = 0;
        for (int e = errno; e > 0 && len < 11; e /= 10) digits[len++] = static_cast<char>('0' + e % 10);
        while (len > 0 && n < sizeof(line) - 2) line[n++] = digits[--len];
        line[n++] = '\n';
        (void)!::write(stderr_fd, line, n);
        ::_exit(127);
    }
    // Every signal at its default (an ignored one stays ignored across exec) and none blocked.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP) (void)::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Every descriptor it keeps first above the numbers they go to (a caller with 0, 1 or 2
    // closed may hold one there, which the dup2s below would overwrite); dup2 clears
    // close-on-exec.
    const int base = 100 + static_cast<int>(fds.size());
    for (size_t i = 0; i < fds.size(); ++i)
        if ((high[i] = ::fcntl(fds[i], F_DUPFD, base)) < 0) ::_exit(127);
    if ((high[fds.size()] = ::fcntl(stderr_fd, F_DUPFD, base)) < 0) ::_exit(127);
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(high[fds.size()], 2) < 0) ::_exit(127);
    for (size_t i = 0; i < fds.size(); ++i)
        if (::dup2(high[i], 3 + static_cast<int>(i)) < 0) ::_exit(127);
    if (kernel::close_range(3 + static_cast<unsigned>(fds.size()), ~0U, 0) != 0) ::_exit(127);
    // Nothing of caisson's environment: the helper's command line says all it is to know.
    ::execve(path.c_str(), args.data(), no_env);
    ::_exit(127);
}

}  // namespace caisson::mech
