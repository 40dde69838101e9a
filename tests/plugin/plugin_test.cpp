// Sandboxed plug-ins: the sample plug-in (tests/plugin/sample_plugin.cpp) in its worker.
// Every type round-trips; each way a plug-in can fail is the right PluginError and the host
// goes on (the same Plugin object restarts its worker); nothing leaks after many calls.
#include <caisson/plugin.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>

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
    EXPECT_EQ(p.call<std::string>("greet", std::string("again")), "hello, again");
}

// A compromised plug-in writes where the host reads: the socket, the shared channel's
// length, its bytes, its sequence word. Each is a BadReply, and the next call works.
TEST(Plugin, GarbageOnEitherChannelIsABadReply) {
    Plugin p(options());
    try {
        p.call<Fd>("garbage_on_socket");
        ADD_FAILURE() << "garbage_on_socket did not fail";
    } catch (const PluginError& e) {
        EXPECT_EQ(e.failure(), PluginFailure::BadReply) << e.what();
        EXPECT_NE(std::string(e.what()).find("bad header"), std::string::npos) << e.what();
    }
    for (const char* fn : {"garbage_length", "garbage_bytes", "out_of_turn", "shrink_channel"}) {
        try {
            p.call<int64_t>(fn);
            ADD_FAILURE() << fn << " did not fail";
        } catch (const PluginError& e) {
            EXPECT_EQ(e.failure(), PluginFailure::BadReply) << fn << ": " << e.what();
        }
        EXPECT_FALSE(p.running()) << "a worker that sent garbage is not used again";
        EXPECT_EQ(p.call<int64_t>("add", int64_t{2}, int64_t{2}), 4) << "after " << fn;
    }
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

// An inetd-style host: its own streams are a client's connection. The worker reads and
// writes /dev/null there, never the client; its standard error goes where the host says.
TEST(Plugin, TheWorkerNeverGetsTheHostsStreams) {
    // The host's stdin, for this test, is a socket a client would be on.
    int client[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, client), 0);
    const int saved_stdin = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
    ASSERT_GE(saved_stdin, 0);
    ASSERT_EQ(::dup2(client[0], 0), 0);
    struct Restore {
        int saved;
        ~Restore() {
            ::dup2(saved, 0);
            ::close(saved);
        }
    } restore{saved_stdin};
    int err[2];
    ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
    {
        PluginOptions o = options();
        o.stderr_fd = err[1];
        Plugin p(o);
        EXPECT_EQ(p.call<std::string>("streams"), "null null other");
    }
    ::close(err[1]);
    std::string said;
    char buf[256];
    for (ssize_t n; (n = ::read(err[0], buf, sizeof(buf))) > 0;) said.append(buf, static_cast<size_t>(n));
    ::close(err[0]);
    EXPECT_EQ(said, "a line on the worker's stderr\n");
    {
        Plugin p(options());
        EXPECT_EQ(p.call<std::string>("streams"), "null null null") << "no stderr_fd: /dev/null";
    }
    // Nothing of the worker reached the client.
    char c;
    EXPECT_EQ(::recv(client[1], &c, 1, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
    ::close(client[0]);
    ::close(client[1]);
}

// stderr_fd is copied from a pipe of the worker's, not handed over: a hostile plug-in holding
// the host's open file could truncate the log or make the host's descriptor non-blocking (an
// attack run did both).
TEST(Plugin, TheHostsLogIsNotTheWorkersToTamperWith) {
    char log[] = "/tmp/caisson-test-log-XXXXXX";
    int made = ::mkstemp(log);
    ASSERT_GE(made, 0);
    ::close(made);
    int fd = ::open(log, O_WRONLY | O_APPEND | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "a record of the host's\n", 23), 23);
    {
        PluginOptions o = options();
        o.stderr_fd = fd;
        Plugin p(o);
        EXPECT_EQ(p.call<std::string>("tamper_stderr"), "not truncated");
        EXPECT_EQ(p.call<std::string>("streams"), "null null other");
    }
    EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0) << "the host's descriptor was made non-blocking";
    ::close(fd);
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ::unlink(log);
    EXPECT_EQ(text, "a record of the host's\na line on the worker's stderr\n");
}

// The call's time is the whole reply's: a worker that sends a byte at a time, each in time
// for a read, still times out when the call's time is up (2 s here), not after 10 s.
TEST(Plugin, AReplyTrickledAByteAtATimeTimesOut) {
    Plugin p(options());
    auto t0 = std::chrono::steady_clock::now();
    try {
        p.call<int64_t>("trickle");
        ADD_FAILURE() << "trickle did not fail";
    } catch (const PluginError& e) {
        EXPECT_EQ(e.failure(), PluginFailure::Timeout) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6));
    EXPECT_EQ(p.call<int64_t>("add", int64_t{1}, int64_t{1}), 2);
}

// A fresh worker that replies and then ignores "close" is killed once its call is over, not
// left running beside the next ones until the Plugin goes: the pipe it holds ends.
TEST(Plugin, AFreshWorkerThatIgnoresCloseIsKilled) {
    PluginOptions o = options();
    o.fresh_per_call = true;
    Plugin fresh(o);
    for (int i = 0; i < 3; ++i) {
        int held[2];
        ASSERT_EQ(::pipe2(held, O_CLOEXEC), 0);
        EXPECT_EQ(fresh.call<int64_t>("reply_then_hang", Fd{held[1]}), 7);
        ::close(held[1]);
        pollfd pf{held[0], POLLIN, 0};
        ASSERT_EQ(::poll(&pf, 1, 20000), 1) << "call " << i << ": the worker still runs";
        char c;
        EXPECT_EQ(::read(held[0], &c, 1), 0);
        ::close(held[0]);
    }
}

int fds_of(pid_t pid) {
    int n = 0;
    DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (!d) return -1;
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
    return n;
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
        // A fresh worker has seen nothing: state a call leaves does not reach the next one.
        EXPECT_EQ(fresh.call<int64_t>("bump"), 1);
        EXPECT_EQ(fresh.call<int64_t>("bump"), 1);
    }
    EXPECT_EQ(open_fds(), before);
}

// 10,000 calls to one warm worker, a fifth of them with descriptors in or out: every
// result right, and afterwards no descriptor more in the host or in the worker.
TEST(Plugin, TenThousandCallsLeakNothing) {
    int before = open_fds();
    {
        Plugin warm(options());
        EXPECT_EQ(warm.call<int64_t>("bump"), 1);
        EXPECT_EQ(warm.call<int64_t>("bump"), 2) << "a warm worker keeps its state";
        const pid_t worker = warm.worker_pid();
        const int worker_fds = fds_of(worker);
        ASSERT_GT(worker_fds, 0);
        for (int i = 0; i < 10000; ++i) {
            switch (i % 10) {
            case 0: {
                int p[2];
                ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
                ASSERT_EQ(warm.call<int64_t>("write_to", Fd{p[1]}, std::string("x")), 1) << "call " << i;
                ::close(p[1]);
                char c = 0;
                ASSERT_EQ(::read(p[0], &c, 1), 1);
                ::close(p[0]);
                break;
            }
            case 5: {
                Fd f = warm.call<Fd>("pipe_with", std::string("y"));
                char c = 0;
                ASSERT_EQ(::read(f.fd, &c, 1), 1) << "call " << i;
                ::close(f.fd);
                break;
            }
            case 7:
                ASSERT_EQ(warm.call<std::string>("greet", std::to_string(i)), "hello, " + std::to_string(i));
                break;
            default:
                ASSERT_EQ(warm.call<int64_t>("add", int64_t{i}, int64_t{1}), i + 1) << "call " << i;
            }
        }
        EXPECT_EQ(warm.worker_pid(), worker) << "one worker served every call";
        EXPECT_EQ(fds_of(worker), worker_fds) << "descriptors left in the worker";
    }
    EXPECT_EQ(open_fds(), before) << "descriptors left in the host";
}

}  // namespace
}  // namespace caisson
