#include "oci/wait.hpp"

#include "kernel/fd.hpp"

#include <caisson/error.hpp>

#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::oci {

int forward_until_exit(pid_t pid, const sigset_t& set) {
    kernel::Fd sfd(::signalfd(-1, &set, SFD_CLOEXEC));
    if (!sfd) throw Error(ErrorKind::Setup, "signalfd", "signal forwarding", errno);
    int status = 0;
    // Ended already, its SIGCHLD taken by an earlier wait (the exec's start): not waited for.
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    for (;;) {
        signalfd_siginfo si{};
        if (::read(sfd.get(), &si, sizeof(si)) != sizeof(si)) continue;
        if (static_cast<int>(si.ssi_signo) != SIGCHLD) {
            ::kill(pid, static_cast<int>(si.ssi_signo));
            continue;
        }
        if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    }
}

}  // namespace caisson::oci
