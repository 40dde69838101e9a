#include "mech/seccomp.hpp"

#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace caisson::mech {

bool install_seccomp(const std::vector<sock_filter>& program, int* listener, run::Failure& f) {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.size());
    prog.filter = const_cast<sock_filter*>(program.data());
    unsigned flags = listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
    long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0) return f.set("install seccomp filter", listener ? "with a notification listener" : "filter");
    if (listener) *listener = static_cast<int>(rc);
    return true;
}

}  // namespace caisson::mech
