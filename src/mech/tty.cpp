#include "mech/tty.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace caisson::mech {

namespace {

// A background group changing the foreground group gets SIGTTOU unless it blocks it.
int set_foreground(pid_t pgrp) {
    sigset_t ttou, old;
    ::sigemptyset(&ttou);
    ::sigaddset(&ttou, SIGTTOU);
    ::sigprocmask(SIG_BLOCK, &ttou, &old);
    int rc = ::tcsetpgrp(0, pgrp);
    int err = errno;
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    errno = err;
    return rc;
}

}  // namespace

bool take_terminal_foreground(kernel::Failure& f) {
    if (::setpgid(0, 0) < 0) return f.set("setpgid", "program");
    if (::isatty(0) && set_foreground(::getpgrp()) < 0 && errno != ENOTTY) return f.set("tcsetpgrp", "stdin");
    return true;
}

void restore_terminal_foreground(pid_t pgrp) {
    if (::isatty(0)) (void)set_foreground(pgrp);
}

bool detach_from_terminal(kernel::Failure& f) {
    if (::setsid() < 0) return f.set("setsid", "new session");
    return true;
}

}  // namespace caisson::mech
