// caisson listen: one sandbox per connection, limits, the log, a graceful stop, bad input.
// Every peer is on loopback.
#include "harness.hpp"
#include "loopback.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <thread>

namespace caisson::test {
namespace {

// A running `caisson listen`, its port read from its first line on stderr.
class Listener {
public:
    explicit Listener(std::vector<std::string> args) : server_(command(std::move(args))) {
        const std::string& line = server_.first_line();
        auto colon = line.rfind(':');
        if (line.find("listening on") != std::string::npos && colon != std::string::npos)
            port_ = std::stoi(line.substr(colon + 1));
    }
    int port() const { return port_; }
    // SIGTERM, then the exit status.
    int stop() { return server_.stop(); }
    std::string rest_of_stderr() { return server_.rest_of_stderr(); }

private:
    static std::vector<std::string> command(std::vector<std::string> args) {
        std::vector<std::string> argv = {caisson_path(), "listen", "--port", "0", "--address", "127.0.0.1"};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }
    Server server_;
    int port_ = 0;
};


// Everything the peer sends until it closes (at most 10 s).
std::string read_all(int s) { return read_until_end(s); }

std::string exchange(int port, const std::string& line) {
    int s = connect_loopback(port);
    if (s < 0) return "connect failed";
    (void)!::write(s, line.data(), line.size());
    std::string out = read_all(s);
    ::close(s);
    return out;
}

int count(const std::string& text, const std::string& needle) {
    int n = 0;
    for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
    return n;
}

const char* kEcho = "read x; echo \"$x from $(hostname) pid $$\"";

TEST(Listen, EachConnectionGetsItsOwnSandbox) {
    TempDir dir;
    const std::string log = dir.path() + "/log";
    Listener l({"--log", log, "--hostname", "jail", "--", "/bin/sh", "-c", kEcho});
    ASSERT_GT(l.port(), 0);
    EXPECT_EQ(exchange(l.port(), "one\n"), "one from jail pid 2\n") << "the socket is stdin and stdout, in a new pid namespace (caisson's init is 1)";
    EXPECT_EQ(exchange(l.port(), "two\n"), "two from jail pid 2\n");
    EXPECT_EQ(l.stop(), 0);
    std::string text = read_file(log);
    EXPECT_EQ(count(text, "\"event\":\"session\""), 2) << text;
    EXPECT_NE(text.find("\"peer\":\"127.0.0.1:"), std::string::npos) << text;
    EXPECT_NE(text.find("\"exit\":0"), std::string::npos) << text;
    EXPECT_NE(text.find("\"served\":2"), std::string::npos) << text;
}

// A session writes a line on its stderr that looks like the log's. With the log on the
// listener's stderr it goes nowhere (it would pass for a session of another peer); with
// --log FILE it goes to the listener's stderr, never into the log.
TEST(Listen, ASessionCannotWriteIntoTheLog) {
    const char* kForger = "echo '{\"event\":\"session\",\"peer\":\"6.6.6.6:1\",\"exit\":0}' >&2; echo hi";
    {
        Listener l({"--", "/bin/sh", "-c", kForger});
        ASSERT_GT(l.port(), 0);
        EXPECT_EQ(exchange(l.port(), ""), "hi\n");
        EXPECT_EQ(l.stop(), 0);
        std::string log = l.rest_of_stderr();
        EXPECT_EQ(log.find("6.6.6.6"), std::string::npos) << log;
        EXPECT_EQ(count(log, "\"event\":\"session\""), 1) << log;
    }
    TempDir dir;
    const std::string file = dir.path() + "/log";
    Listener l({"--log", file, "--", "/bin/sh", "-c", kForger});
    ASSERT_GT(l.port(), 0);
    EXPECT_EQ(exchange(l.port(), ""), "hi\n");
    EXPECT_EQ(l.stop(), 0);
    EXPECT_NE(l.rest_of_stderr().find("6.6.6.6"), std::string::npos) << "the program's stderr is the listener's";
    std::string log = read_file(file);
    EXPECT_EQ(log.find("6.6.6.6"), std::string::npos) << log;
    EXPECT_EQ(count(log, "\"event\":\"session\""), 1) << log;
}

// --pool: each connection takes a sandbox the pool built ahead, one per connection, as
// `caisson run --pool` does; a policy that is not the pool's is refused per session.
TEST(Listen, APoolServesEachConnectionASandboxOfItsOwn) {
    TempDir dir;
    const std::string socket = dir.path() + "/pool.sock", log = dir.path() + "/log";
    Server pool({caisson_path(), "pool", "--socket", socket, "--size", "2", "--hostname", "jail"});
    ASSERT_NE(pool.first_line().find("listening on"), std::string::npos) << pool.first_line();
    Listener l({"--pool", socket, "--log", log, "--hostname", "jail", "--", "/bin/sh", "-c", kEcho});
    ASSERT_GT(l.port(), 0);
    const std::string one = exchange(l.port(), "one\n"), two = exchange(l.port(), "two\n");
    EXPECT_EQ(one.rfind("one from jail pid ", 0), 0u) << one;
    EXPECT_EQ(two.rfind("two from jail pid ", 0), 0u) << two;
    Listener other({"--pool", socket, "--log", log, "--hostname", "elsewhere", "--", "/bin/sh", "-c", kEcho});
    ASSERT_GT(other.port(), 0);
    EXPECT_EQ(exchange(other.port(), "three\n"), "") << "a session whose policy is not the pool's gets nothing";
    EXPECT_EQ(l.stop(), 0);
    EXPECT_EQ(other.stop(), 0);
    EXPECT_EQ(pool.stop(), 0);
    std::string text = read_file(log);
    EXPECT_EQ(count(text, "\"exit\":0"), 2) << text;
    EXPECT_NE(text.find("differs from the run's in: hostname"), std::string::npos) << text;
}

TEST(Listen, TwoHundredConcurrentConnections) {
    TempDir dir;
    const std::string log = dir.path() + "/log";
    Listener l({"--log", log, "--max-conns", "200", "--backlog", "256", "--", "/bin/sh", "-c", kEcho});
    ASSERT_GT(l.port(), 0);
    // All 200 connected before any is answered, then each gets its own answer.
    std::vector<int> socks;
    for (int i = 0; i < 200; ++i) socks.push_back(connect_loopback(l.port()));
    for (size_t i = 0; i < socks.size(); ++i) {
        ASSERT_GE(socks[i], 0) << i;
        std::string line = "n" + std::to_string(i) + "\n";
        ASSERT_EQ(::write(socks[i], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    }
    int right = 0;
    std::string wrong;
    for (size_t i = 0; i < socks.size(); ++i) {
        std::string got = read_all(socks[i]);
        if (got == "n" + std::to_string(i) + " from caisson pid 2\n") ++right;
        else wrong += std::to_string(i) + ": \"" + got + "\"\n";
        ::close(socks[i]);
    }
    EXPECT_EQ(l.stop(), 0);
    std::string text = read_file(log);
    EXPECT_EQ(right, 200) << wrong << text;
    EXPECT_EQ(count(text, "\"event\":\"session\""), 200);
}

TEST(Listen, PerAddressLimitRefusesTheThirdAndServesTheFirstTwo) {
    TempDir dir;
    const std::string log = dir.path() + "/log";
    Listener l({"--log", log, "--max-conns-per-ip", "2", "--", "/bin/sh", "-c", kEcho});
    ASSERT_GT(l.port(), 0);
    int a = connect_loopback(l.port()), b = connect_loopback(l.port());
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    // The first two hold their sandboxes (waiting to read): the third is closed unanswered.
    std::string log_text;
    for (int i = 0; i < 100 && count(log_text, "refused") == 0; ++i) {
        int c = connect_loopback(l.port());
        EXPECT_EQ(read_all(c), "");
        ::close(c);
        log_text = read_file(log);
    }
    EXPECT_NE(log_text.find("\"limit\":\"max-conns-per-ip\""), std::string::npos) << log_text;
    for (int s : {a, b}) {
        (void)!::write(s, "held\n", 5);
        EXPECT_EQ(read_all(s), "held from caisson pid 2\n");
        ::close(s);
    }
    EXPECT_EQ(l.stop(), 0);
}

TEST(Listen, SigtermLetsARunningSessionFinish) {
    TempDir dir;
    const std::string log = dir.path() + "/log";
    auto l = std::make_unique<Listener>(std::vector<std::string>{"--log", log, "--stop-timeout", "20", "--", "/bin/sh", "-c", kEcho});
    ASSERT_GT(l->port(), 0);
    int s = connect_loopback(l->port());
    ASSERT_GE(s, 0);
    // Once the listener has taken the connection (its log says so), SIGTERM; the request is
    // sent after it, and still answered.
    for (int i = 0; i < 500 && read_file(log).find("\"event\":\"connect\"") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::thread stopper([&] { EXPECT_EQ(l->stop(), 0); });
    for (int i = 0; i < 200 && read_file(log).find("stopping") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    (void)!::write(s, "late\n", 5);
    EXPECT_EQ(read_all(s), "late from caisson pid 2\n");
    ::close(s);
    stopper.join();
    std::string text = read_file(log);
    EXPECT_NE(text.find("\"served\":1"), std::string::npos) << text;
    EXPECT_EQ(connect_loopback(l->port()), -1) << "nothing listens after the stop";
}

TEST(Listen, BadInputIsRefusedBeforeListening) {
    RunResult bad = run_caisson({"listen", "--port", "0", "--address", "not-an-address", "--", "/bin/true"});
    EXPECT_EQ(bad.status, 125);
    EXPECT_NE(bad.err.find("--address: not an IPv4 or IPv6 address"), std::string::npos) << bad.err;
    // A port in use: this test holds it.
    int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(holder, 1), 0);
    socklen_t len = sizeof(a);
    ::getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len);
    RunResult busy = run_caisson({"listen", "--port", std::to_string(ntohs(a.sin_port)), "--address", "127.0.0.1", "--",
                                  "/bin/true"});
    ::close(holder);
    EXPECT_EQ(busy.status, 125);
    EXPECT_NE(busy.err.find("Address already in use"), std::string::npos) << busy.err;
    RunResult none = run_caisson({"listen", "--port", "0"});
    EXPECT_EQ(none.status, 125);
    EXPECT_NE(none.err.find("a program is needed"), std::string::npos) << none.err;
    RunResult tty = run_caisson({"listen", "--port", "0", "--tty", "--", "/bin/true"});
    EXPECT_EQ(tty.status, 125);
    EXPECT_NE(tty.err.find("--tty"), std::string::npos) << tty.err;
    // --log as --report: root does not go through another user's link on the way (one a
    // sandbox planted), and a FIFO at the path is refused, not waited on.
    TempDir dir;
    ASSERT_EQ(::mkdir((dir.path() + "/elsewhere").c_str(), 0755), 0);
    const std::string link = dir.path() + "/logs";
    ASSERT_EQ(::symlink((dir.path() + "/elsewhere").c_str(), link.c_str()), 0);
    ASSERT_EQ(::lchown(link.c_str(), kUnprivilegedUid, kUnprivilegedUid), 0);
    RunResult linked = run_caisson({"listen", "--port", "0", "--log", link + "/log", "--", "/bin/true"});
    EXPECT_EQ(linked.status, 125);
    EXPECT_NE(linked.err.find("--log"), std::string::npos) << linked.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/elsewhere/log"));
    ASSERT_EQ(::mkfifo((dir.path() + "/fifo").c_str(), 0600), 0);
    RunResult fifo = run_caisson({"listen", "--port", "0", "--log", dir.path() + "/fifo", "--", "/bin/true"});
    EXPECT_EQ(fifo.status, 125);
    EXPECT_NE(fifo.err.find("--log"), std::string::npos) << fifo.err;
}

// The program's stdin and stdout are a stream of its own, carried to the connection from
// outside: a megabyte each way arrives whole, the peer's end of writing is the program's end
// of input, and the addresses come as tcpserver gives them.
TEST(Listen, TheConnectionIsCarriedWholeBothWaysAndItsAddressesAreGiven) {
    Listener l({"--", "/bin/sh", "-c",
                "echo \"$PROTO $TCPREMOTEIP $TCPLOCALIP $TCPLOCALPORT $(stat -L -c %F /proc/self/fd/0)\"; exec cat"});
    ASSERT_GT(l.port(), 0);
    int s = connect_loopback(l.port());
    ASSERT_GE(s, 0);
    std::string sent(1 << 20, '\0');
    for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>((i * 7919) >> 3);
    std::thread writer([&] {
        for (size_t off = 0; off < sent.size();) {
            ssize_t n = ::write(s, sent.data() + off, sent.size() - off);
            if (n <= 0) break;
            off += static_cast<size_t>(n);
        }
        ::shutdown(s, SHUT_WR);
    });
    std::string got = read_all(s);
    writer.join();
    ::close(s);
    const std::string first = "TCP 127.0.0.1 127.0.0.1 " + std::to_string(l.port()) + " socket\n";
    ASSERT_EQ(got.substr(0, first.size()), first) << got.substr(0, 200);
    EXPECT_TRUE(got.substr(first.size()) == sent) << "received " << got.size() - first.size() << " of " << sent.size();
    EXPECT_EQ(l.stop(), 0);
}

}  // namespace
}  // namespace caisson::test
