// --net MODE: none (a namespace of its own), host (the caller's), ns:PATH (join one); bad
// modes and paths are errors before anything starts. (veth and user: veth_test, user_net_test.)
#include "harness.hpp"
#include "netns.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>

namespace caisson::test {
namespace {

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
        {"bogus", "--net: expected none, host, ns:/ABSOLUTE/PATH, veth or user: bogus"},
        {"ns:relative", "--net: expected none, host, ns:/ABSOLUTE/PATH, veth or user"},
        {"ns:/nonexistent/netns", "--net ns: open: /nonexistent/netns: No such file or directory"},
        {"ns:/proc/self/ns/pid", "--net ns: not a network namespace: /proc/self/ns/pid"},
    };
    for (const auto& c : cases) expect_refused({"--net", c.mode}, c.message);
}

}  // namespace
}  // namespace caisson::test
