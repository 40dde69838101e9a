#include "run/vm_passt.hpp"

#include "mech/cgroup.hpp"
#include "mech/cgroup_detect.hpp"
#include "mech/companion.hpp"
#include "mech/egress.hpp"
#include "mech/ephemeral_binds.hpp"
#include "mech/passt.hpp"
#include "policy/cgroup_plan.hpp"
#include "policy/vm_plan.hpp"
#include "kernel/syscalls.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>

namespace caisson::run {

namespace {

// The keeper, after the fork: descriptors 3 (passt's socket), 4 (its stderr) and 5 (the word
// back to caisson) and nothing else of caisson's; the cgroup, its filter and passt; then the
// wait, and the cleanup. Says "ok" or why not on 5. Never returns.
[[noreturn]] void keep(const std::string& passt, const sigset_t& watched) {
    std::unique_ptr<mech::SandboxCgroup> cgroup;
    std::optional<mech::EgressFilter> filter;
    pid_t pid = -1;
    try {
        const mech::CgroupLayout layout = mech::detect_cgroups();
        cgroup = mech::SandboxCgroup::create(layout, cgroup_plan::Plan{}, "caisson");
        (void)cgroup->collect_stale_siblings();
        if (cgroup->v2_fd() < 0) throw Error(ErrorKind::Setup, "--vm --net user", "passt's cgroup v2 directory", ENOENT);
        // The filter is in the cgroup before passt: nothing of passt's runs without it.
        filter.emplace(cgroup->v2_fd(), policy::vm::passt_egress());
        // passt keeps the guest's UDP source ports on the host as pasta does: its binds of
        // the host's wildcard address get ports the kernel picks, shared with no one
        // (filter/bind_program.hpp).
        mech::attach_ephemeral_binds(cgroup->v2_fd(), {});
        Fd procs(::openat(cgroup->v2_fd(), "cgroup.procs", O_WRONLY | O_CLOEXEC));
        if (!procs) throw Error(ErrorKind::Setup, "--vm --net user: open", "passt's cgroup.procs", errno);
        pid = mech::fork_tethered("passt", passt, policy::vm::passt_argv(passt, mech::kPasstFd), 4, {3}, procs.get());
        (void)!::write(5, "ok", 2);
    } catch (const std::exception& e) {
        const std::string why = e.what();
        (void)!::write(5, why.data(), why.size());
    }
    ::close(5);
    ::close(4);
    ::close(3);
    // Until caisson says so (or is gone), or passt ends.
    while (pid > 0) {
        int sig = 0;
        if (::sigwait(&watched, &sig) != 0 || sig == SIGTERM) break;
        if (::waitpid(pid, nullptr, WNOHANG) == pid) pid = -1;
    }
    if (pid > 0) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    filter.reset();
    cgroup.reset();  // kills what is left in it, removes it
    ::_exit(0);
}

}  // namespace

GuestNetwork::GuestNetwork(int socket, int stderr_fd) {
    if (::geteuid() != 0)
        throw Error::usage("--vm --net user: passt is kept off the host's loopback by a cgroup BPF filter, which needs root");
    std::string passt = mech::find_passt();
    if (passt.empty()) throw Error::usage("--vm --net user: passt not found (Debian package passt; or set CAISSON_PASST)");
    // Root runs it: a file others could rewrite would be theirs to run as root.
    passt = mech::require_root_owned(passt, "--vm --net user: passt");
    if (mech::detect_cgroups().v2.empty())
        throw Error::usage("--vm --net user: passt's filter needs a cgroup v2 hierarchy (none is mounted)");
    int word[2];
    if (::pipe2(word, O_CLOEXEC) != 0) throw Error(ErrorKind::Setup, "pipe", "passt's keeper", errno);
    Fd word_r(word[0]), word_w(word[1]);

    sigset_t watched, old;
    ::sigemptyset(&watched);
    ::sigaddset(&watched, SIGTERM);
    ::sigaddset(&watched, SIGCHLD);
    // Blocked across the fork, so that the keeper sees a SIGTERM sent before it waits.
    ::pthread_sigmask(SIG_BLOCK, &watched, &old);
    const pid_t parent = ::getpid();
    keeper_ = ::fork();
    if (keeper_ < 0) {
        const int err = errno;
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw Error(ErrorKind::Setup, "fork", "passt's keeper", err);
    }
    if (keeper_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
        if (::getppid() != parent) ::_exit(0);
        // A group of its own: a terminal's ^C is for the program in the guest (caisson passes
        // it on), not for passt. SIGCHLD at its default: a caller that ignores it would have
        // the kernel reap passt, and its pid could be another's by the time it is killed.
        if (::setpgid(0, 0) != 0 || ::signal(SIGCHLD, SIG_DFL) == SIG_ERR) ::_exit(0);
        // Nothing of caisson's but what it needs: not the caller's streams (a reader of
        // caisson's output would wait on the keeper), not the guest's other descriptors.
        const int s = ::fcntl(socket, F_DUPFD, 10), e = ::fcntl(stderr_fd, F_DUPFD, 10), w = ::fcntl(word_w.get(), F_DUPFD, 10);
        const int null = ::open("/dev/null", O_RDWR);
        if (s < 0 || e < 0 || w < 0 || null < 0 || ::dup2(s, 3) < 0 || ::dup2(e, 4) < 0 || ::dup2(w, 5) < 0 ||
            ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(null, 2) < 0 || kernel::close_range(6, ~0U, 0) != 0)
            ::_exit(0);
        keep(passt, watched);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    word_w.reset();
    pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, keeper_, 0)));
    const int pidfd_err = errno;
    std::string said;
    char buf[1024];
    ssize_t n;
    while ((n = ::read(word_r.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) said.append(buf, static_cast<size_t>(n));
    if (said != "ok" || !pidfd_) {
        ::kill(keeper_, SIGTERM);
        while (::waitpid(keeper_, nullptr, 0) < 0 && errno == EINTR) {
        }
        keeper_ = -1;
        if (said != "ok") throw Error(ErrorKind::Setup, "--vm --net user: passt", said.empty() ? "its keeper ended" : said, 0);
        throw Error(ErrorKind::Setup, "pidfd_open", "passt's keeper", pidfd_err);
    }
}

GuestNetwork::~GuestNetwork() {
    if (keeper_ <= 0) return;
    ::kill(keeper_, SIGTERM);
    while (::waitpid(keeper_, nullptr, 0) < 0 && errno == EINTR) {
    }
}

}  // namespace caisson::run
