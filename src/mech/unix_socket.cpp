#include "mech/unix_socket.hpp"

#include <caisson/error.hpp>

#include "kernel/syscalls.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace caisson::mech {
namespace {

// The address for `path`; `dir` keeps the directory open while a long path is in use.
sockaddr_un address(const std::string& path, kernel::Fd& dir, const char* what) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string p = path;
    if (p.size() >= sizeof(a.sun_path)) {
        auto slash = p.rfind('/');
        std::string parent = slash == 0 ? "/" : p.substr(0, slash);
        dir.reset(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!dir) throw Error(ErrorKind::Setup, what, parent, errno);
        p = "/proc/self/fd/" + std::to_string(dir.get()) + "/" + p.substr(slash + 1);
        if (p.size() >= sizeof(a.sun_path)) throw Error(ErrorKind::Usage, what, path, ENAMETOOLONG);
    }
    std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
    return a;
}

}  // namespace

kernel::Fd connect_unix(const std::string& path, const char* what) {
    kernel::Fd dir;
    sockaddr_un a = address(path, dir, what);
    kernel::Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) throw Error(ErrorKind::Setup, what, "socket", errno);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) throw Error(ErrorKind::Setup, what, path, errno);
    return s;
}

kernel::Fd listen_unix(const std::string& path, const char* what) {
    kernel::Fd dir;
    sockaddr_un a = address(path, dir, what);
    kernel::Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) throw Error(ErrorKind::Setup, what, "socket", errno);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) throw Error(ErrorKind::Setup, what, path, errno);
    if (::listen(s.get(), 4) < 0) throw Error(ErrorKind::Setup, what, path, errno);
    return s;
}

long peer_uid(int sock) {
    ucred peer{};
    socklen_t len = sizeof(peer);
    return ::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 ? static_cast<long>(peer.uid) : -1;
}

namespace {

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

std::string ns_link(const std::string& proc, const char* ns) {
    char target[64] = {};
    ssize_t n = ::readlink((proc + "/ns/" + ns).c_str(), target, sizeof(target) - 1);
    return n > 0 ? std::string(target, static_cast<size_t>(n)) : "";
}

// Seccomp_filters of /proc/PID/status; -1 when unread.
long seccomp_filters(const std::string& proc) {
    std::ifstream in(proc + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("Seccomp_filters:", 0) == 0) return std::strtol(line.c_str() + 16, nullptr, 10);
    return -1;
}

}  // namespace

std::string peer_stands_elsewhere(int sock) {
    int raw = -1;
    socklen_t len = sizeof(raw);
    if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &raw, &len) < 0)
        return std::string("the kernel does not name the caller by a pidfd (SO_PEERPIDFD: ") + strerrorname_np(errno) +
               "; Linux 6.5 or later)";
    kernel::Fd pidfd(raw);
    ucred peer{};
    len = sizeof(peer);
    if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || peer.pid <= 0)
        return "the kernel does not say the caller's pid (SO_PEERCRED)";
    const std::string theirs = "/proc/" + std::to_string(peer.pid), mine = "/proc/self";
    std::string why;
    for (const char* ns : {"user", "mnt"}) {
        const std::string a = ns_link(theirs, ns), b = ns_link(mine, ns);
        if (a.empty() || b.empty()) why = std::string("the caller's ") + ns + " namespace cannot be read";
        else if (a != b) why = std::string("the caller is in another ") + ns + " namespace (" + a + ", not " + b + ")";
        if (!why.empty()) break;
    }
    if (why.empty()) {
        const long a = seccomp_filters(theirs), b = seccomp_filters(mine);
        if (a < 0 || b < 0) why = "the caller's seccomp filters cannot be counted";
        else if (a > b) why = "the caller is under " + std::to_string(a) + " seccomp filters, more than the pool's " + std::to_string(b);
    }
    // Read while the process was the peer: if it is gone, the pid may be another's now.
    if (kernel::pidfd_send_signal(pidfd.get(), 0) < 0) return "the caller ended while it was looked at";
    return why;
}

}  // namespace caisson::mech
