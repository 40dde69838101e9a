#include "mech/unix_socket.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

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

}  // namespace caisson::mech
