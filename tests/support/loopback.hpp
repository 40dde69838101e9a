// TCP on 127.0.0.1:PORT, for the tests and benchmarks of listen mode and of what a sandbox
// may not reach.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace caisson::test {

inline sockaddr_in loopback_address(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// The connected socket, or -1.
inline int connect_loopback(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    const sockaddr_in a = loopback_address(port);
    if (::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) < 0) {
        ::close(s);
        return -1;
    }
    return s;
}

// A socket listening on 127.0.0.1:PORT, or -1.
inline int listen_loopback(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    const sockaddr_in a = loopback_address(port);
    if (::bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) < 0 || ::listen(s, 4) < 0) {
        ::close(s);
        return -1;
    }
    return s;
}

}  // namespace caisson::test
