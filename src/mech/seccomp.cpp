#include "mech/seccomp.hpp"

#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {
namespace {

// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, newer than Debian 12's headers.
constexpr unsigned kWaitKillableRecv = 1u << 5;

}  // namespace

bool install_seccomp(const std::vector<sock_filter>& program, int* listener, kernel::Failure& f, unsigned extra_flags) {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.size());
    prog.filter = const_cast<sock_filter*>(program.data());
    // A call waiting for the supervisor's verdict must not turn into EINTR when a signal
    // arrives (Linux 5.19: only a fatal signal ends the wait).
    unsigned flags = (listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER | kWaitKillableRecv : 0) | extra_flags;
    long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0 && errno == EINVAL && listener)
        rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | extra_flags, &prog);
    if (rc < 0) return f.set("install seccomp filter", listener ? "with a notification listener" : "filter");
    if (listener) *listener = static_cast<int>(rc);
    return true;
}

}  // namespace caisson::mech
