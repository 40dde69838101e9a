#include "mech/tty.hpp"

#include "kernel/fd.hpp"

#include <caisson/error.hpp>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <memory>

namespace caisson::mech {

std::vector<unsigned char> build_tty_filter() {
    std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(SCMP_ACT_ALLOW), seccomp_release);
    if (!ctx) throw Error(ErrorKind::Setup, "seccomp_init", "tty filter", ENOMEM);
    // The kernel reads the ioctl request as a 32-bit int: compare the low half only, so a
    // value with junk in the high half cannot slip past an equality test. libseccomp adds
    // the architecture check and refuses x32 syscall numbers on x86_64.
    for (unsigned long req : {static_cast<unsigned long>(TIOCSTI), static_cast<unsigned long>(TIOCLINUX)}) {
        int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, req));
        if (rc < 0) throw Error(ErrorKind::Setup, "seccomp rule", "ioctl TIOCSTI/TIOCLINUX", -rc);
    }
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0); rc < 0)
        throw Error(ErrorKind::Setup, "seccomp attribute", "no_new_privs", -rc);
    // libseccomp 2.5 exports only to a descriptor.
    kernel::Fd mem(::memfd_create("caisson-tty-filter", MFD_CLOEXEC));
    if (!mem) throw Error(ErrorKind::Setup, "memfd_create", "tty filter", errno);
    if (int rc = seccomp_export_bpf(ctx.get(), mem.get()); rc < 0)
        throw Error(ErrorKind::Setup, "seccomp export", "tty filter", -rc);
    off_t len = ::lseek(mem.get(), 0, SEEK_END);
    std::vector<unsigned char> out(static_cast<size_t>(len < 0 ? 0 : len));
    if (len <= 0 || ::pread(mem.get(), out.data(), out.size(), 0) != len)
        throw Error(ErrorKind::Setup, "read exported filter", "tty filter", errno ? errno : EIO);
    return out;
}

bool load_filter(const std::vector<unsigned char>& bpf, run::Failure& f) {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(bpf.size() / sizeof(sock_filter));
    prog.filter = reinterpret_cast<sock_filter*>(const_cast<unsigned char*>(bpf.data()));
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
        return f.set("load seccomp filter", "TIOCSTI/TIOCLINUX");
    return true;
}

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

bool take_terminal_foreground(run::Failure& f) {
    if (::setpgid(0, 0) < 0) return f.set("setpgid", "program");
    if (::isatty(0) && set_foreground(::getpgrp()) < 0 && errno != ENOTTY) return f.set("tcsetpgrp", "stdin");
    return true;
}

void restore_terminal_foreground(pid_t pgrp) {
    if (::isatty(0)) (void)set_foreground(pgrp);
}

bool detach_from_terminal(run::Failure& f) {
    if (::setsid() < 0) return f.set("setsid", "new session");
    return true;
}

}  // namespace caisson::mech
