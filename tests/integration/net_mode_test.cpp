// --net MODE: none (a namespace of its own), host (the caller's), ns:PATH (join one); the
// modes this version does not have, and bad paths, are errors before anything starts.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>

namespace caisson::test {
namespace {

// A process in a new network namespace, holding it until destroyed.
class NetnsHolder {
public:
    NetnsHolder() {
        int ready[2], hold[2];
        EXPECT_EQ(::pipe2(ready, O_CLOEXEC), 0);
        EXPECT_EQ(::pipe2(hold, O_CLOEXEC), 0);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(hold[1]);
            ::close(ready[0]);
            char ok = ::unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
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

TEST(NetMode, NoneHostAndJoiningANamespace) {
    RunResult none = run_probe({"--net", "none"});
    ASSERT_EQ(none.status, 0) << none.err;
    EXPECT_NE(none.probe["ns"]["net"], host_ns("net"));
    RunResult host = run_probe({"--net", "host"});
    ASSERT_EQ(host.status, 0) << host.err;
    EXPECT_EQ(host.probe["ns"]["net"], host_ns("net"));

    NetnsHolder holder;
    RunResult joined = run_probe({"--net", "ns:" + holder.path()});
    ASSERT_EQ(joined.status, 0) << joined.err;
    EXPECT_EQ(joined.probe["ns"]["net"], holder.link());
    EXPECT_NE(joined.probe["ns"]["net"], host_ns("net"));
    // The other namespaces are still the sandbox's own.
    EXPECT_NE(joined.probe["ns"]["pid"], host_ns("pid"));
}

TEST(NetMode, BadModesAndPathsAreRefused) {
    struct Case {
        std::string mode, message;
    } cases[] = {
        {"bogus", "--net: expected none, host or ns:/ABSOLUTE/PATH: bogus"},
        {"ns:relative", "--net: expected none, host or ns:/ABSOLUTE/PATH"},
        {"user", "--net user: not available in this version"},
        {"veth", "--net veth: not available in this version"},
        {"ns:/nonexistent/netns", "--net ns: open: /nonexistent/netns: No such file or directory"},
        {"ns:/proc/self/ns/pid", "--net ns: not a network namespace: /proc/self/ns/pid"},
    };
    for (const auto& c : cases) {
        RunResult r = run_caisson({"run", "--net", c.mode, "--", "/bin/true"});
        EXPECT_EQ(r.status, 125) << c.mode;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << c.mode << ": " << r.err;
    }
}

}  // namespace
}  // namespace caisson::test
