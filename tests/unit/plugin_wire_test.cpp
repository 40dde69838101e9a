// The plug-in wire: every type round-trips through a real socket (descriptors included),
// and what a compromised plug-in could send instead is refused with an error, not a crash.
#include <caisson/plugin_wire.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

namespace caisson::wire {
namespace {

struct Pair {
    int a = -1, b = -1;
    Pair() {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        a = sv[0], b = sv[1];
    }
    ~Pair() {
        ::close(a);
        if (b >= 0) ::close(b);
    }
};

Reader pass(const Writer& w) {
    Pair p;
    std::string bytes;
    std::vector<int> fds;
    // A thread sends, so that a buffer larger than the socket's fits.
    std::thread t([&] { send(p.a, w, "test"); });
    EXPECT_TRUE(receive(p.b, bytes, fds, "test"));
    t.join();
    return Reader(std::move(bytes), std::move(fds));
}

TEST(PluginWire, EveryTypeRoundTrips) {
    int pipefd[2];
    ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
    Writer w;
    w.put(int32_t{-7});
    w.put(uint64_t{1} << 63);
    w.put(3.25);
    w.put(true);
    w.put(std::string("héllo\0x", 8));
    Bytes big;
    big.data.resize(1 << 20);
    for (size_t i = 0; i < big.data.size(); ++i) big.data[i] = static_cast<uint8_t>(i * 7);
    w.put(big);
    w.put(Fd{pipefd[1]});
    Reader r = pass(w);
    EXPECT_EQ(r.get<int32_t>("1"), -7);
    EXPECT_EQ(r.get<uint64_t>("2"), uint64_t{1} << 63);
    EXPECT_EQ(r.get<double>("3"), 3.25);
    EXPECT_TRUE(r.get<bool>("4"));
    EXPECT_EQ(r.get<std::string>("5"), std::string("héllo\0x", 8));
    EXPECT_EQ(r.get<Bytes>("6").data, big.data);
    Fd fd = r.get<Fd>("7");
    ASSERT_GE(fd.fd, 0);
    EXPECT_NE(fd.fd, pipefd[1]) << "a new descriptor for the same pipe";
    ASSERT_EQ(::write(fd.fd, "z", 1), 1);
    char c = 0;
    ASSERT_EQ(::read(pipefd[0], &c, 1), 1);
    EXPECT_EQ(c, 'z');
    EXPECT_NO_THROW(r.finish("reply"));
    ::close(fd.fd);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
}

TEST(PluginWire, SignaturesNameTheTypes) {
    EXPECT_EQ((signature<int, int, std::string>()), "i:is");
    EXPECT_EQ((signature<void, Bytes, Fd, double, bool, uint32_t>()), "v:yfdbu");
    EXPECT_EQ((signature<std::string>()), "s:");
}

TEST(PluginWire, AValueOfAnotherTypeIsRefusedByName) {
    Writer w;
    w.put(std::string("text"));
    Reader r = pass(w);
    try {
        r.get<int64_t>("argument 1");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("argument 1: malformed message: expected a signed integer, found a string"),
                  std::string::npos)
            << e.what();
    }
}

TEST(PluginWire, WhatAHostilePeerSendsIsRefused) {
    auto refused = [](const std::string& raw, const char* says, uint32_t limit = kMaxMessage) {
        Pair p;
        ASSERT_EQ(::write(p.a, raw.data(), raw.size()), static_cast<ssize_t>(raw.size()));
        ::shutdown(p.a, SHUT_WR);
        std::string bytes;
        std::vector<int> fds;
        try {
            receive(p.b, bytes, fds, "reply", limit);
            ADD_FAILURE() << "accepted: " << says;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
        }
    };
    auto header = [](uint32_t magic, uint32_t len) { return std::string(reinterpret_cast<char*>(&magic), 4) + std::string(reinterpret_cast<char*>(&len), 4); };
    refused(header(0x63617773, 100) + "short", "cut short");
    refused(header(0xdeadbeef, 0), "bad header");
    refused(header(0x63617773, 4096), "over the limit of 1024", 1024);
    refused("abc", "cut short");
    // Inside a message: a string longer than what is left, a descriptor that is not there.
    Writer w;
    w.put(std::string("abcdef"));
    std::string body = w.bytes();
    body[1] = 100;  // the length says 100
    Reader lying(body, {});
    EXPECT_THROW(lying.get<std::string>("argument 1"), Error);
    Writer wf;
    wf.put(Fd{0});
    Reader nofd(wf.bytes(), {});
    try {
        nofd.get<Fd>("argument 1");
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("names a descriptor the message does not carry"), std::string::npos);
    }
    Writer two;
    two.put(1);
    two.put(2);
    Reader extra(two.bytes(), {});
    extra.get<int>("argument 1");
    EXPECT_THROW(extra.finish("call"), Error) << "trailing bytes mean the sides disagree";
}

TEST(PluginWire, DescriptorsNotTakenAreClosed) {
    int pipefd[2];
    ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
    int received = -1;
    {
        Writer w;
        w.put(Fd{pipefd[0]});
        Reader r = pass(w);
        // A second reader's view: find the descriptor number the message holds.
        for (int fd = 3; fd < 1024; ++fd) {
            struct stat a{}, b{};
            if (fd != pipefd[0] && fd != pipefd[1] && ::fstat(fd, &a) == 0 && ::fstat(pipefd[0], &b) == 0 &&
                a.st_ino == b.st_ino && a.st_dev == b.st_dev)
                received = fd;
        }
        ASSERT_GE(received, 0);
    }
    EXPECT_EQ(::fcntl(received, F_GETFD), -1) << "closed with the reader";
    ::close(pipefd[0]);
    ::close(pipefd[1]);
}

TEST(PluginWire, ACleanEndBetweenMessagesIsNotAnError) {
    Pair q;
    ::shutdown(q.a, SHUT_WR);
    std::string bytes;
    std::vector<int> fds;
    EXPECT_FALSE(receive(q.b, bytes, fds, "reply"));
}

}  // namespace
}  // namespace caisson::wire
