// restrict_self, in a forked child each time (restricting the test runner would end the
// run): what it forbids fails, what it allows goes on, and other threads are covered.
#include "policy/seccomp_profile.hpp"

#include <caisson/error.hpp>
#include <caisson/restrict.hpp>

#include <gtest/gtest.h>

#include <linux/capability.h>
#include <sys/syscall.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

namespace caisson {
namespace {

struct ChildResult {
    int status = -1;
    std::string out;
};

// Runs `body` in a child; what it writes to the pipe comes back with its wait status.
ChildResult in_child(const std::function<std::string()>& body) {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        std::string s;
        try {
            s = body();
        } catch (const Error& e) {
            s = std::string("error: ") + e.what();
        }
        (void)!::write(p[1], s.data(), s.size());
        ::_exit(0);
    }
    ::close(p[1]);
    ChildResult r;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof(buf))) > 0) r.out.append(buf, static_cast<size_t>(n));
    ::close(p[0]);
    ::waitpid(pid, &r.status, 0);
    return r;
}

std::string err_name(long rc) { return rc >= 0 ? "ok" : strerrorname_np(errno); }

seccomp::Policy deny_sockets() {
    return seccomp_profile::parse_text(
        "default = \"allow\"\n[[rule]]\nsyscall = [\"socket\", \"socketpair\"]\naction = \"errno(EPERM)\"\n", "t.toml");
}

TEST(RestrictSelf, ForbiddenWorkFailsAllowedWorkContinues) {
    auto r = in_child([] {
        int before = ::open("/etc/hostname", O_RDONLY | O_CLOEXEC);  // opened during start-up
        SelfPolicy p;
        p.seccomp = deny_sockets();
        p.landlock.paths.push_back({"/proc", LandlockAccess::Read});
        auto report = restrict_self(p);
        char c;
        std::string out = "open=" + err_name(::open("/etc/passwd", O_RDONLY | O_CLOEXEC));
        out += " old=" + err_name(::read(before, &c, 1));
        out += " socket=" + err_name(::socket(AF_INET, SOCK_STREAM, 0));
        out += " proc=" + err_name(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
        out += " nnp=" + std::to_string(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
        return out;
    });
    EXPECT_EQ(r.out, "open=EACCES old=ok socket=EPERM proc=ok nnp=1");
    EXPECT_TRUE(WIFEXITED(r.status));
}

TEST(RestrictSelf, SeccompCoversThreadsThatAlreadyRun) {
    auto r = in_child([] {
        int go[2], done[2];
        if (::pipe(go) < 0 || ::pipe(done) < 0) return std::string("pipe");
        // Without capabilities: those are per thread, and restrict_self refuses to drop them
        // on one thread of several.
        __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {};
        if (::syscall(SYS_capset, &hdr, none) < 0) return std::string("capset");
        std::thread t([&] {
            char c;
            (void)!::read(go[0], &c, 1);
            std::string res = err_name(::socket(AF_UNIX, SOCK_STREAM, 0));
            (void)!::write(done[1], res.data(), res.size());
        });
        SelfPolicy p;
        p.seccomp = deny_sockets();
        restrict_self(p);
        (void)!::write(go[1], "x", 1);
        t.join();
        char buf[16] = {};
        (void)!::read(done[0], buf, sizeof(buf) - 1);
        return std::string("thread socket=") + buf;
    });
    EXPECT_EQ(r.out, "thread socket=EPERM");
}

TEST(RestrictSelf, LandlockRefusesWhileOtherThreadsRun) {
    auto r = in_child([] {
        int go[2];
        if (::pipe(go) < 0) return std::string("pipe");
        std::thread t([&] {
            char c;
            (void)!::read(go[0], &c, 1);
        });
        SelfPolicy p;
        p.landlock.paths.push_back({"/proc", LandlockAccess::Read});
        std::string out;
        try {
            restrict_self(p);
            out = "applied";
        } catch (const Error& e) {
            out = e.what();
        }
        (void)!::write(go[1], "x", 1);
        t.join();
        // Nothing was applied: the process is still free.
        return out + " | open=" + err_name(::open("/etc/passwd", O_RDONLY | O_CLOEXEC));
    });
    EXPECT_NE(r.out.find("Landlock restricts the calling thread only; call it before starting threads (2 are running)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("| open=ok"), std::string::npos) << r.out;
}

TEST(RestrictSelf, StrictModeKillsOnAnythingButReadWriteExit) {
    auto r = in_child([] {
        SelfPolicy p;
        p.strict = true;
        restrict_self(p);
        (void)!::write(1, "", 0);    // allowed
        ::syscall(SYS_getpid);       // not: SIGKILL
        return std::string("survived");
    });
    EXPECT_TRUE(WIFSIGNALED(r.status)) << r.out;
    EXPECT_EQ(WTERMSIG(r.status), SIGKILL);
    EXPECT_EQ(r.out, "");
}

TEST(RestrictSelf, FromARunProfile) {
    std::string path = "/tmp/caisson-restrict-self-test.toml";
    std::ofstream(path) << "seccomp = \"default\"\nlandlock-ro = [\"/proc\"]\n";
    auto r = in_child([&] {
        auto p = self_policy_from_profile(path);
        restrict_self(p);
        return "mount=" + err_name(::syscall(SYS_umount2, "/", 0)) +
               " open=" + err_name(::open("/etc/passwd", O_RDONLY | O_CLOEXEC));
    });
    ::unlink(path.c_str());
    EXPECT_EQ(r.out, "mount=EPERM open=EACCES");
}

}  // namespace
}  // namespace caisson
