// A small server that restricts itself once its privileged start-up is done: it opens its
// listening socket and its log file, then keeps only what serving needs. After
// restrict_self it can accept, read and write on what it holds, and nothing else: no new
// files (Landlock), no new sockets or processes (seccomp), no capabilities.
//   restricted_echo LOG_FILE    (prints the port, serves one connection, exits)
#include <caisson/error.hpp>
#include <caisson/restrict.hpp>


#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    // Start-up, with every right the process has.
    int log = ::open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int srv = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (log < 0 || srv < 0 || ::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 || ::listen(srv, 1) < 0 ||
        ::getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
        std::perror("start-up");
        return 1;
    }

    // Then only what serving needs.
    caisson::SelfPolicy policy;
    policy.seccomp = caisson::seccomp::policy_from_toml(R"toml(
default = "errno(EPERM)"
allow = ["accept", "accept4", "read", "write", "close", "exit", "exit_group", "brk", "mmap", "munmap",
         "fstat", "newfstatat", "rt_sigreturn", "futex"]
)toml", "restricted_echo");
    policy.landlock.paths.push_back({"/proc/self", caisson::LandlockAccess::Read});
    try {
        caisson::restrict_self(policy);
    } catch (const caisson::Error& e) {
        std::fprintf(stderr, "restrict_self: %s\n", e.what());
        return 1;
    }
    std::printf("%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    int c = ::accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return 1;
    char buf[256];
    ssize_t n = ::read(c, buf, sizeof(buf));
    if (n > 0) (void)!::write(c, buf, static_cast<size_t>(n));
    // What an attacker who took over the process would try next:
    // (seccomp refuses openat before Landlock would: EPERM; without the filter, EACCES.)
    bool open_denied = ::open("/etc/passwd", O_RDONLY | O_CLOEXEC) < 0 && (errno == EPERM || errno == EACCES);
    bool socket_denied = ::socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EPERM;
    std::string line = std::string("served ") + std::to_string(n) + " bytes; open /etc/passwd " +
                       (open_denied ? "denied" : "ALLOWED") + "; new socket " + (socket_denied ? "denied" : "ALLOWED") + "\n";
    (void)!::write(log, line.data(), line.size());
    ::close(c);
    return open_denied && socket_denied ? 0 : 3;
}
