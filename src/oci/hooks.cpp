#include "oci/hooks.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace caisson::oci {
namespace {

std::string run_one(const Hook& h, const char* stage, const std::string& state) {
    std::string who = std::string(stage) + " hook " + h.path;
    int in[2];
    if (::pipe2(in, O_CLOEXEC) < 0) return who + ": pipe: " + std::strerror(errno);
    kernel::Fd rd(in[0]), wr(in[1]);
    std::vector<char*> argv, envp;
    std::string argv0 = h.path;
    if (h.args.empty()) argv.push_back(argv0.data());
    for (const auto& a : h.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    // A hook without `env` gets the runtime's own environment, as runc and crun give it.
    for (const auto& e : h.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    char** env = h.env.empty() ? environ : envp.data();
    pid_t pid = ::fork();
    if (pid < 0) return who + ": fork: " + std::strerror(errno);
    if (pid == 0) {
        ::dup2(rd.get(), 0);
        // Its own process group: a timeout kills what the hook started too.
        ::setpgid(0, 0);
        ::sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(h.path.c_str(), argv.data(), env);
        ::_exit(127);
    }
    rd.reset();
    ::setpgid(pid, pid);  // as the child does: whichever runs first
    kernel::Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) {
        std::string err = who + ": pidfd_open: " + std::strerror(errno);
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return err;
    }
    // A hook that does not read its stdin must not block us: the state fits a pipe. Nor
    // kill us with SIGPIPE; ignored for this write only, or the container's program (for a
    // startContainer hook, this process execs it next) would start with SIGPIPE ignored.
    struct sigaction ignore{}, before{};
    ignore.sa_handler = SIG_IGN;
    const bool swapped = ::sigaction(SIGPIPE, &ignore, &before) == 0;
    (void)!::write(wr.get(), state.data(), state.size());
    if (swapped) (void)::sigaction(SIGPIPE, &before, nullptr);
    wr.reset();
    int timeout_ms = h.timeout ? *h.timeout * 1000 : -1;
    pollfd p{pidfd.get(), POLLIN, 0};
    int rc;
    do rc = ::poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return who + ": timed out after " + std::to_string(*h.timeout) + " s";
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    if (WIFEXITED(status)) return who + ": exit status " + std::to_string(WEXITSTATUS(status));
    return who + ": killed by signal " + std::to_string(WTERMSIG(status));
}

}  // namespace

std::vector<std::string> run_every_hook(const std::vector<Hook>& hooks, const char* stage, const std::string& state_json) {
    std::vector<std::string> failures;
    for (const auto& h : hooks)
        if (std::string err = run_one(h, stage, state_json); !err.empty()) failures.push_back(std::move(err));
    return failures;
}

std::string run_hooks(const std::vector<Hook>& hooks, const char* stage, const std::string& state_json) {
    for (const auto& h : hooks) {
        std::string err = run_one(h, stage, state_json);
        if (!err.empty()) return err;
    }
    return {};
}

}  // namespace caisson::oci
