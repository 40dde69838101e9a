// A process in a new network namespace, holding it until destroyed, for tests that join a
// namespace by path (--net ns:PATH). `setup` runs in that namespace before it is handed over.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <string>

namespace caisson::test {

class NetnsHolder {
public:
    explicit NetnsHolder(bool (*setup)() = nullptr) {
        int ready[2], hold[2];
        EXPECT_EQ(::pipe2(ready, O_CLOEXEC), 0);
        EXPECT_EQ(::pipe2(hold, O_CLOEXEC), 0);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(hold[1]);
            ::close(ready[0]);
            char ok = ::unshare(CLONE_NEWNET) == 0 && (!setup || setup()) ? 'y' : 'n';
            (void)!::write(ready[1], &ok, 1);
            char c;
            (void)!::read(hold[0], &c, 1);  // until the test closes its end
            ::_exit(0);
        }
        ::close(ready[1]);
        ::close(hold[0]);
        hold_ = hold[1];
        char ok = 0;
        EXPECT_EQ(::read(ready[0], &ok, 1), 1);
        EXPECT_EQ(ok, 'y');
        ::close(ready[0]);
    }
    ~NetnsHolder() {
        ::close(hold_);
        ::waitpid(pid_, nullptr, 0);
    }
    NetnsHolder(const NetnsHolder&) = delete;
    NetnsHolder& operator=(const NetnsHolder&) = delete;
    std::string path() const { return "/proc/" + std::to_string(pid_) + "/ns/net"; }
    std::string link() const {
        char buf[PATH_MAX] = {};
        ssize_t n = ::readlink(path().c_str(), buf, sizeof(buf) - 1);
        return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    }

private:
    pid_t pid_ = -1;
    int hold_ = -1;
};

}  // namespace caisson::test

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <functional>

#include "loopback.hpp"

namespace caisson::test {

// A "test host": a network namespace of its own, joined to this one by a veth pair
// (`<name>-h` here with HOST_ADDR/30, `<name>-p` there with PEER_ADDR/30). Traffic to it stays
// on this machine. Removed with the object.
class TestHost {
public:
    TestHost(std::string name, std::string host_addr, std::string peer_addr)
        : name_(std::move(name)), host_addr_(std::move(host_addr)), peer_addr_(std::move(peer_addr)) {
        const std::string ns = "--net=" + ns_.path();
        ok_ = sh("ip link add " + name_ + "-h type veth peer name " + name_ + "-p netns " + pid()) &&
              sh("ip addr add " + host_addr_ + "/30 dev " + name_ + "-h") && sh("ip link set " + name_ + "-h up") &&
              sh("nsenter " + ns + " ip addr add " + peer_addr_ + "/30 dev " + name_ + "-p") &&
              sh("nsenter " + ns + " ip link set " + name_ + "-p up") && sh("nsenter " + ns + " ip link set lo up");
    }
    ~TestHost() { sh("ip link del " + name_ + "-h 2>/dev/null"); }
    bool ok() const { return ok_; }
    const std::string& peer_addr() const { return peer_addr_; }
    const std::string& host_addr() const { return host_addr_; }
    const NetnsHolder& ns() const { return ns_; }

    // A TCP socket of that namespace: listening on ADDR:PORT, or connected to ADDR:PORT.
    int listen_on(const std::string& addr, int port) const { return socket_in(addr, port, true); }
    int connect_to(const std::string& addr, int port) const { return socket_in(addr, port, false); }
    // A UDP socket of that namespace bound to ADDR:PORT.
    int udp_on(const std::string& addr, int port) const { return socket_in(addr, port, true, SOCK_DGRAM); }

    static bool sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }

private:
    std::string pid() const {
        std::string p = ns_.path();  // /proc/PID/ns/net
        return p.substr(6, p.find('/', 6) - 6);
    }
    int socket_in(const std::string& addr, int port, bool listen, int type = SOCK_STREAM) const {
        int self = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        int there = ::open(ns_.path().c_str(), O_RDONLY | O_CLOEXEC);
        int fd = -1;
        if (self >= 0 && there >= 0 && ::setns(there, CLONE_NEWNET) == 0) {
            fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(static_cast<uint16_t>(port));
            ::inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
            int rc = listen ? ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 ? (type == SOCK_DGRAM ? 0 : ::listen(fd, 8)) : -1
                            : ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
            if (rc < 0) {
                ::close(fd);
                fd = -1;
            }
            EXPECT_EQ(::setns(self, CLONE_NEWNET), 0);
        }
        if (self >= 0) ::close(self);
        if (there >= 0) ::close(there);
        return fd;
    }
    NetnsHolder ns_;
    std::string name_, host_addr_, peer_addr_;
    bool ok_ = false;
};

// One line from a connected socket, waiting at most 5 s for it.
inline std::string read_line(int fd) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string s;
    char c;
    while (s.size() < 200 && ::read(fd, &c, 1) == 1 && c != '\n') s += c;
    return s;
}

// What a sandbox serving on a published port answered: to a client on the host's loopback,
// and to one on the test host (connecting to the host's address on that link).
struct PublishedReplies {
    std::string from_loopback, from_outside;
};
inline std::function<void(pid_t)> ask_published(const TestHost& th, int port, PublishedReplies& out) {
    return [&th, port, &out](pid_t) {
        int a = connect_loopback(port);
        if (a >= 0) out.from_loopback = read_line(a), ::close(a);
        // Debian 12's pasta (2023-03) hands a non-loopback peer the sandbox's data only once
        // that peer has half-closed (reproduced without caisson): the client says it is done.
        int b = th.connect_to(th.host_addr(), port);
        if (b >= 0) ::shutdown(b, SHUT_WR), out.from_outside = read_line(b), ::close(b);
    };
}

// The peer address of the next connection on `listener`, "" after `timeout_ms`.
inline std::string accept_peer(int listener, int timeout_ms) {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return "";
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    int c = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (c < 0) return "";
    ::close(c);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
    return text;
}

}  // namespace caisson::test
