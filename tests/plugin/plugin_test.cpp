// Sandboxed plug-ins: the sample plug-in (tests/plugin/sample_plugin.cpp) in its worker.
// Every type round-trips; each way a plug-in can fail is the right PluginError and the host
// goes on (the same Plugin object restarts its worker); nothing leaks after many calls.
#include <caisson/plugin.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>

namespace caisson {
namespace {

using wire::Bytes;
using wire::Fd;

PluginOptions options() {
    PluginOptions o;
    o.library = SAMPLE_PLUGIN;
    o.worker = PLUGIN_WORKER;
    o.call_timeout_s = 2;
    o.memory_bytes = 64u << 20;
    return o;
}

int open_fds() {
    int n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
    return n;
}

PluginFailure failure_of(Plugin& p, const char* fn) {
    try {
        p.call<int64_t>(fn);
    } catch (const PluginError& e) {
        return e.failure();
    }
    ADD_FAILURE() << fn << " did not fail";
    return PluginFailure::Exited;
}

TEST(Plugin, EveryTypeRoundTrips) {
    Plugin p(options());
    EXPECT_EQ(p.call<int64_t>("add", int64_t{40}, int64_t{2}), 42);
    EXPECT_DOUBLE_EQ(p.call<double>("scale", 1.5, 4.0), 6.0);
    EXPECT_FALSE(p.call<bool>("flip", true));
    EXPECT_EQ(p.call<uint32_t>("count", std::string(1000, 'x')), 1000u);
    EXPECT_EQ(p.call<std::string>("greet", std::string("world")), "hello, world");
    Bytes b;
    for (int i = 0; i < (1 << 20); ++i) b.data.push_back(static_cast<uint8_t>(i));
    Bytes r = p.call<Bytes>("reverse", b);
    ASSERT_EQ(r.data.size(), b.data.size());
    EXPECT_TRUE(std::equal(r.data.begin(), r.data.end(), b.data.rbegin()));
    p.call<void>("nothing");
}

TEST(Plugin, DescriptorsPassBothWays) {
    Plugin p(options());
    int pipefd[2];
    ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
    EXPECT_EQ(p.call<int64_t>("write_to", Fd{pipefd[1]}, std::string("into the host")), 13);
    ::close(pipefd[1]);
    char buf[64] = {};
    EXPECT_EQ(::read(pipefd[0], buf, sizeof(buf)), 13);
    EXPECT_STREQ(buf, "into the host");
    ::close(pipefd[0]);
    Fd from = p.call<Fd>("pipe_with", std::string("from the plug-in"));
    ASSERT_GE(from.fd, 0);
    char got[64] = {};
    EXPECT_EQ(::read(from.fd, got, sizeof(got)), 16);
    EXPECT_STREQ(got, "from the plug-in");
    ::close(from.fd);
}

TEST(Plugin, ACallThatFailsLeavesTheWorkerRunning) {
    Plugin p(options());
    pid_t pid = p.worker_pid();
    EXPECT_GT(pid, 0);
    try {
        p.call<int64_t>("fails", int64_t{1});
        FAIL();
    } catch (const PluginError& e) {
        EXPECT_EQ(e.failure(), PluginFailure::CallFailed);
        EXPECT_NE(std::string(e.what()).find("this input is refused"), std::string::npos) << e.what();
    }
    try {
        p.call<int64_t>("add", std::string("1"), int64_t{2});
        FAIL();
    } catch (const PluginError& e) {
        EXPECT_EQ(e.failure(), PluginFailure::CallFailed);
        EXPECT_NE(std::string(e.what()).find("signature mismatch: the host calls i:si, the plug-in has i:ii"), std::string::npos)
            << e.what();
    }
    try {
        p.call<int64_t>("no_such_function");
        FAIL();
    } catch (const PluginError& e) {
        EXPECT_NE(std::string(e.what()).find("no function no_such_function"), std::string::npos) << e.what();
    }
    EXPECT_EQ(p.worker_pid(), pid) << "the same worker answered all of them";
    EXPECT_EQ(p.call<int64_t>("add", int64_t{1}, int64_t{1}), 2);
}

TEST(Plugin, EachWayOfDyingIsNamedAndTheHostCarriesOn) {
    Plugin p(options());
    EXPECT_EQ(failure_of(p, "crash"), PluginFailure::Crashed);
    EXPECT_EQ(p.call<int64_t>("add", int64_t{2}, int64_t{3}), 5) << "a new worker after the crash";
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(failure_of(p, "spin"), PluginFailure::Timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    EXPECT_EQ(failure_of(p, "forbidden"), PluginFailure::SeccompKilled);
    EXPECT_EQ(failure_of(p, "hog"), PluginFailure::OutOfMemory);
    EXPECT_EQ(failure_of(p, "garbage"), PluginFailure::BadReply);
    EXPECT_EQ(p.call<std::string>("greet", std::string("again")), "hello, again");
}

TEST(Plugin, ALibraryThatDoesNotLoadIsALoadError) {
    PluginOptions o = options();
    o.library = "/etc/hostname";
    try {
        Plugin p(o);
        FAIL();
    } catch (const PluginError& e) {
        EXPECT_EQ(e.failure(), PluginFailure::LoadFailed);
        EXPECT_NE(std::string(e.what()).find("/etc/hostname"), std::string::npos) << e.what();
    }
    o.library = "/nonexistent/plugin.so";
    try {
        Plugin p(o);
        FAIL();
    } catch (const PluginError& e) {
        EXPECT_EQ(e.failure(), PluginFailure::LoadFailed);
    }
}

TEST(Plugin, FreshWorkersPerCallAndNothingLeaks) {
    int before = open_fds();
    {
        PluginOptions o = options();
        o.fresh_per_call = true;
        Plugin fresh(o);
        EXPECT_EQ(fresh.call<int64_t>("add", int64_t{1}, int64_t{2}), 3);
        EXPECT_EQ(fresh.call<int64_t>("add", int64_t{3}, int64_t{4}), 7);
        EXPECT_FALSE(fresh.running()) << "no worker between calls";
        Plugin warm(options());
        for (int i = 0; i < 2000; ++i) ASSERT_EQ(warm.call<int64_t>("add", int64_t{i}, int64_t{1}), i + 1);
    }
    EXPECT_EQ(open_fds(), before);
}

}  // namespace
}  // namespace caisson
