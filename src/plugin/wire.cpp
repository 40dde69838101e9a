#include <caisson/plugin_wire.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <cstdint>

namespace caisson::wire {
namespace {

constexpr uint32_t kMagic = 0x63617773;  // "swac": not a stray write on the socket
constexpr int kScmPidfd = 0x04;          // SCM_PIDFD (Linux 6.5), newer than this libc's headers

[[noreturn]] void malformed(const char* what, const std::string& why) {
    throw Error(ErrorKind::Setup, std::string(what) + ": malformed message: " + why, "", EPROTO);
}

// With a deadline: waits until `sock` is ready for `events`, or throws EAGAIN once the
// deadline has passed; the caller then reads or writes without blocking.
void wait_ready(int sock, short events, const Deadline& deadline, const char* what) {
    if (!deadline) return;
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) throw Error(ErrorKind::Setup, std::string(what) + ": not in time", "", EAGAIN);
        pollfd p{sock, events, 0};
        int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX)));
        if (rc > 0) return;  // ready, or hung up: the read or write says which
        if (rc < 0 && errno != EINTR) throw Error(ErrorKind::Setup, std::string(what) + ": poll", "", errno);
    }
}

// Reads exactly n bytes; false when the stream ends before the first byte and `eof_ok`.
bool read_exact(int sock, char* p, size_t n, const char* what, bool eof_ok, const Deadline& deadline) {
    size_t got = 0;
    while (got < n) {
        wait_ready(sock, POLLIN, deadline, what);
        ssize_t r = ::recv(sock, p + got, n - got, deadline ? MSG_DONTWAIT : 0);
        if (r < 0 && errno == EAGAIN && deadline) continue;  // woken for nothing: the deadline decides
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw Error(ErrorKind::Setup, std::string(what) + ": read", "", errno);
        if (r == 0) {
            if (got == 0 && eof_ok) return false;
            malformed(what, "cut short after " + std::to_string(got) + " of " + std::to_string(n) + " bytes");
        }
        got += static_cast<size_t>(r);
    }
    return true;
}

void close_all(std::vector<int>& fds) {
    for (int fd : fds)
        if (fd >= 0) ::close(fd);
    fds.clear();
}

}  // namespace

const char* tag_name(char tag) {
    switch (tag) {
    case Int: return "a signed integer";
    case Uint: return "an unsigned integer";
    case Double: return "a floating-point number";
    case Bool: return "a bool";
    case String: return "a string";
    case Buffer: return "a byte buffer";
    case Descriptor: return "a file descriptor";
    }
    return "an unknown value";
}

Reader::~Reader() { close_all(fds_); }

void Reader::need(size_t n, const char* what) const {
    if (buf_.size() - pos_ < n) malformed(what, "ends inside a value");
}

void Reader::expect(char tag, const char* what) {
    need(1, what);
    char t = buf_[pos_++];
    if (t != tag) malformed(what, std::string("expected ") + tag_name(tag) + ", found " + tag_name(t));
}

std::pair<const char*, size_t> Reader::blob(const char* what) {
    uint32_t n = raw<uint32_t>(what);
    need(n, what);
    const char* p = buf_.data() + pos_;
    pos_ += n;
    return {p, n};
}

int Reader::take_fd(uint32_t index, const char* what) {
    if (index >= fds_.size() || fds_[index] < 0) malformed(what, "names a descriptor the message does not carry");
    int fd = fds_[index];
    fds_[index] = -1;
    return fd;
}

void Reader::finish(const char* what) const {
    if (!at_end()) malformed(what, std::to_string(buf_.size() - pos_) + " bytes left over");
}

void send(int sock, const Writer& w, const char* what, Deadline deadline) {
    const std::string& body = w.bytes();
    if (body.size() > kMaxMessage) throw Error::usage(std::string(what) + ": message over 64 MiB");
    uint32_t header[2] = {kMagic, static_cast<uint32_t>(body.size())};
    iovec iov[2] = {{header, sizeof(header)}, {const_cast<char*>(body.data()), body.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    const auto& fds = w.fds();
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    size_t total = sizeof(header) + body.size(), sent = 0;
    while (sent < total) {
        wait_ready(sock, POLLOUT, deadline, what);
        ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | (deadline ? MSG_DONTWAIT : 0));
        if (n < 0 && (errno == EINTR || (errno == EAGAIN && deadline))) continue;
        if (n < 0) throw Error(ErrorKind::Setup, std::string(what) + ": send", "", errno);
        sent += static_cast<size_t>(n);
        // The descriptors went with the first bytes; the rest is plain data.
        msg.msg_control = nullptr;
        msg.msg_controllen = 0;
        size_t skip = static_cast<size_t>(n);
        while (msg.msg_iovlen > 0 && skip >= msg.msg_iov[0].iov_len) {
            skip -= msg.msg_iov[0].iov_len;
            ++msg.msg_iov;
            --msg.msg_iovlen;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov[0].iov_base = static_cast<char*>(msg.msg_iov[0].iov_base) + skip;
            msg.msg_iov[0].iov_len -= skip;
        }
    }
}

bool receive(int sock, std::string& bytes, std::vector<int>& fds, const char* what, uint32_t limit, int* sender,
             Deadline deadline, int* sender_pidfd) {
    close_all(fds);
    if (sender_pidfd) *sender_pidfd = -1;
    uint32_t header[2];
    iovec iov{header, sizeof(header)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds) + CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int))];
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    do {
        wait_ready(sock, POLLIN, deadline, what);
        n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | (deadline ? MSG_DONTWAIT : 0));
    } while (n < 0 && (errno == EINTR || (errno == EAGAIN && deadline)));
    if (n < 0) throw Error(ErrorKind::Setup, std::string(what) + ": receive", "", errno);
    // Descriptors first, so that every path below closes what arrived.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && sender) {
            ucred cred;
            std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            *sender = cred.pid;
        }
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == kScmPidfd && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int pidfd;
            std::memcpy(&pidfd, CMSG_DATA(c), sizeof(int));
            if (sender_pidfd && *sender_pidfd < 0) {
                ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
                *sender_pidfd = pidfd;
            } else {
                ::close(pidfd);
            }
            continue;
        }
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds.push_back(fd);
        }
    }
    try {
        if (msg.msg_flags & MSG_CTRUNC) malformed(what, "more than 16 descriptors");
        if (n == 0) {
            if (!fds.empty()) malformed(what, "descriptors without a message");
            if (sender_pidfd && *sender_pidfd >= 0) ::close(std::exchange(*sender_pidfd, -1));
            return false;
        }
        if (static_cast<size_t>(n) < sizeof(header))
            read_exact(sock, reinterpret_cast<char*>(header) + n, sizeof(header) - static_cast<size_t>(n), what, false,
                       deadline);
        if (header[0] != kMagic) malformed(what, "bad header");
        if (header[1] > limit)
            malformed(what, "announces " + std::to_string(header[1]) + " bytes, over the limit of " + std::to_string(limit));
        bytes.resize(header[1]);
        read_exact(sock, bytes.data(), bytes.size(), what, false, deadline);
    } catch (...) {
        close_all(fds);
        if (sender_pidfd && *sender_pidfd >= 0) ::close(std::exchange(*sender_pidfd, -1));
        throw;
    }
    return true;
}

}  // namespace caisson::wire
