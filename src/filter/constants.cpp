#include "filter/constants.hpp"

#include <csignal>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>

#include <array>
#include <charconv>
#include <cstring>
#include <string.h>

namespace caisson::filter {
namespace {

struct Named {
    std::string_view name;
    uint64_t value;
};

#define C(x) Named{#x, static_cast<uint64_t>(x)}

// The constants a policy is likely to test, by argument: open flags, socket families and
// types, clone and unshare flags, the ioctls the TTY attacks use, mmap and mprotect bits,
// personality values, the prctl options that matter for sandboxes, and signals (clone's
// exit signal, kill's argument).
constexpr std::array kConstants{
    C(O_RDONLY), C(O_WRONLY), C(O_RDWR), C(O_ACCMODE), C(O_CREAT), C(O_EXCL), C(O_NOCTTY),
    C(O_TRUNC), C(O_APPEND), C(O_NONBLOCK), C(O_DIRECTORY), C(O_NOFOLLOW), C(O_CLOEXEC),
    C(O_PATH), C(O_TMPFILE), C(O_DSYNC), C(O_SYNC), C(O_DIRECT), C(O_LARGEFILE), C(O_NOATIME),
    C(AF_UNSPEC), C(AF_UNIX), C(AF_LOCAL), C(AF_INET), C(AF_INET6), C(AF_NETLINK), C(AF_PACKET),
    C(AF_KEY), C(AF_ALG), C(AF_VSOCK), C(AF_BLUETOOTH), C(AF_XDP), C(AF_RDS), C(AF_TIPC), C(AF_CAN),
    C(AF_NFC), C(AF_KCM), C(AF_SMC), C(AF_QIPCRTR), C(AF_RXRPC), C(AF_LLC), C(AF_PPPOX),
    C(SOCK_STREAM), C(SOCK_DGRAM), C(SOCK_RAW), C(SOCK_SEQPACKET), C(SOCK_PACKET),
    C(SOCK_NONBLOCK), C(SOCK_CLOEXEC),
    C(CLONE_VM), C(CLONE_FS), C(CLONE_FILES), C(CLONE_SIGHAND), C(CLONE_PIDFD), C(CLONE_PTRACE),
    C(CLONE_VFORK), C(CLONE_PARENT), C(CLONE_THREAD), C(CLONE_NEWNS), C(CLONE_SYSVSEM),
    C(CLONE_SETTLS), C(CLONE_PARENT_SETTID), C(CLONE_CHILD_CLEARTID), C(CLONE_DETACHED),
    C(CLONE_UNTRACED), C(CLONE_CHILD_SETTID), C(CLONE_NEWCGROUP), C(CLONE_NEWUTS),
    C(CLONE_NEWIPC), C(CLONE_NEWUSER), C(CLONE_NEWPID), C(CLONE_NEWNET), C(CLONE_IO),
    C(CLONE_NEWTIME),
    C(TIOCSTI), C(TIOCLINUX), C(TIOCSETD), C(TIOCCONS), C(TIOCSCTTY), C(TIOCGWINSZ), C(TIOCSWINSZ), C(TCGETS), C(TCSETS),
    C(FIONREAD), C(FIONBIO), C(FIOCLEX), C(FIONCLEX),
    C(PROT_NONE), C(PROT_READ), C(PROT_WRITE), C(PROT_EXEC),
    C(MAP_SHARED), C(MAP_PRIVATE), C(MAP_FIXED), C(MAP_ANONYMOUS), C(MAP_GROWSDOWN),
    C(MAP_NORESERVE), C(MAP_POPULATE), C(MAP_HUGETLB),
    C(PER_LINUX), C(PER_LINUX32), C(UNAME26), C(ADDR_NO_RANDOMIZE), C(READ_IMPLIES_EXEC),
    C(PR_SET_NAME), C(PR_GET_NAME), C(PR_SET_PDEATHSIG), C(PR_GET_PDEATHSIG),
    C(PR_SET_DUMPABLE), C(PR_GET_DUMPABLE), C(PR_SET_NO_NEW_PRIVS), C(PR_GET_NO_NEW_PRIVS),
    C(PR_SET_SECCOMP), C(PR_GET_SECCOMP), C(PR_CAPBSET_READ), C(PR_SET_PTRACER),
    C(PR_SET_CHILD_SUBREAPER), C(PR_SET_MM), C(PR_SET_KEEPCAPS), C(PR_SET_SECUREBITS),
    C(PR_SET_TIMERSLACK), C(PR_SET_VMA),
    C(SIGHUP), C(SIGINT), C(SIGQUIT), C(SIGKILL), C(SIGUSR1), C(SIGUSR2), C(SIGTERM), C(SIGCHLD),
    C(SIGCONT), C(SIGSTOP), C(SIGSYS),
    C(SECCOMP_SET_MODE_STRICT), C(SECCOMP_SET_MODE_FILTER), C(SECCOMP_FILTER_FLAG_TSYNC),
    C(SECCOMP_FILTER_FLAG_LOG), C(SECCOMP_FILTER_FLAG_NEW_LISTENER),
};

#undef C

}  // namespace

std::optional<uint64_t> constant_value(std::string_view name) {
    for (const auto& c : kConstants)
        if (c.name == name) return c.value;
    return std::nullopt;
}

std::optional<int> errno_value(std::string_view name) {
    int n = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
    if (ec == std::errc() && end == name.data() + name.size()) {
        if (n < 0 || n > 4095) return std::nullopt;
        return n;
    }
    // The C library knows every errno name; no table of our own to drift from it.
    for (int e = 1; e < 4096; ++e) {
        const char* s = ::strerrorname_np(e);
        if (s && name == s) return e;
    }
    return std::nullopt;
}

const char* errno_name(int value) {
    const char* s = ::strerrorname_np(value);
    return s ? s : "?";
}

}  // namespace caisson::filter
