#include "run/channel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace caisson::run {

bool send_packet(int sock, const void* data, size_t size, const int* fds, size_t nfds) {
    iovec iov{const_cast<void*>(data), size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
    if (nfds > 0) {
        if (nfds > kMaxPassedFds) {
            errno = E2BIG;
            return false;
        }
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(size);
}

int recv_packet(int sock, void* data, size_t size, int* fds, size_t* nfds) {
    iovec iov{data, size};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    if (n == 0) return 0;
    size_t got = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int tmp[kMaxPassedFds];
        std::memcpy(tmp, CMSG_DATA(c), sizeof(int) * (count < kMaxPassedFds ? count : kMaxPassedFds));
        for (size_t i = 0; i < count && i < kMaxPassedFds; ++i) {
            if (fds && nfds && got < *nfds) fds[got++] = tmp[i];
            else ::close(tmp[i]);  // descriptors nobody asked for are not kept
        }
    }
    if (nfds) *nfds = got;
    if (n != static_cast<ssize_t>(size) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        errno = EPROTO;
        return -1;
    }
    return 1;
}

bool send_message(int sock, const Message& m, const int* fds, size_t nfds) { return send_packet(sock, &m, sizeof(m), fds, nfds); }

int recv_message(int sock, Message& m, int* fds, size_t* nfds) { return recv_packet(sock, &m, sizeof(m), fds, nfds); }

}  // namespace caisson::run
