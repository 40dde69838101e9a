// pasta's bind hooks (filter/bind_program, mech/ephemeral_binds) on a cgroup of the test's
// own: a process in it that binds the wildcard address gets a port of the kernel's choosing
// that no other socket shares (SO_REUSEADDR and SO_REUSEPORT taken off), even beside a host
// socket on that port that allows sharing; a published port, a specific address, and a bind
// in another network namespace are left as asked.
#include "mech/ephemeral_binds.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace caisson {
namespace {

std::string cgroup2() {
    for (const char* at : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        struct statfs fs{};
        if (::statfs(at, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) return at;
    }
    return {};
}

// A UDP socket with SO_REUSEADDR (as pasta's), bound to ADDR:PORT: the port it got, and
// whether it still allows sharing; port -errno when the bind failed.
struct Bound {
    int port;
    bool reuse;
};
Bound bind_udp(const char* addr, int port) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, addr, &a.sin_addr);
    Bound b{0, false};
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
        b.port = -errno;
    } else {
        socklen_t len = sizeof(a);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        b.port = ntohs(a.sin_port);
        int reuse = 0;
        len = sizeof(reuse);
        ::getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &len);
        b.reuse = reuse != 0;
    }
    ::close(fd);
    return b;
}

TEST(EphemeralBinds, AWildcardBindGetsAPortOfItsOwn) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (cgroup BPF)";
    const std::string v2 = cgroup2();
    if (v2.empty()) GTEST_SKIP() << "no cgroup2 hierarchy mounted";
    const std::string dir = v2 + "/caisson-test-binds-" + std::to_string(::getpid());
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
    struct Remove {
        std::string dir;
        ~Remove() { ::rmdir(dir.c_str()); }
    } remove{dir};
    int cg = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(cg, 0);
    ASSERT_NO_THROW(mech::attach_ephemeral_binds(cg, {{IPPROTO_UDP, 47311}}));
    ::close(cg);
    // A host socket that allows sharing, on a port the process will ask for.
    int host = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(host, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ASSERT_EQ(::bind(host, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ASSERT_EQ(::getsockname(host, reinterpret_cast<sockaddr*>(&a), &len), 0);
    const int taken = ntohs(a.sin_port);

    int results[2];
    ASSERT_EQ(::pipe2(results, O_CLOEXEC), 0);
    pid_t child = ::fork();
    if (child == 0) {
        std::string procs = dir + "/cgroup.procs";
        int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(2);
        Bound out[5] = {bind_udp("0.0.0.0", taken), bind_udp("0.0.0.0", 0), bind_udp("0.0.0.0", 47311),
                        bind_udp("127.0.0.1", 47312), {0, false}};
        // Another network namespace: pasta's side in the sandbox's.
        if (::unshare(CLONE_NEWNET) == 0) out[4] = bind_udp("0.0.0.0", 47313);
        ::_exit(::write(results[1], out, sizeof(out)) == static_cast<ssize_t>(sizeof(out)) ? 0 : 3);
    }
    ::close(results[1]);
    Bound got[5] = {};
    ASSERT_EQ(::read(results[0], got, sizeof(got)), static_cast<ssize_t>(sizeof(got)));
    ::close(results[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(host);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_GT(got[0].port, 0);
    EXPECT_NE(got[0].port, taken) << "the port a host socket holds, asked for";
    EXPECT_FALSE(got[0].reuse) << "SO_REUSEADDR taken off";
    EXPECT_GT(got[1].port, 0);
    EXPECT_FALSE(got[1].reuse) << "port 0 too: the kernel would hand a sharing socket a shared port";
    EXPECT_EQ(got[2].port, 47311) << "a published port, as asked";
    EXPECT_EQ(got[3].port, 47312) << "a specific address (pasta's test for a listener), as asked";
    EXPECT_EQ(got[4].port, 47313) << "another network namespace, as asked";
}

}  // namespace
}  // namespace caisson
