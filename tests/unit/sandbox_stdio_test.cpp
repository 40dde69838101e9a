// The library face's process.stdio: the program's 0, 1, 2 from descriptors the caller names
// (-1: /dev/null) instead of the caller's own; a descriptor that is not open, or a terminal
// asked for beside them, is refused before anything starts.
#include <caisson/error.hpp>
#include <caisson/sandbox.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace caisson {
namespace {

std::string drain(int fd) {
    std::string s;
    char buf[256];
    for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) s.append(buf, static_cast<size_t>(n));
    return s;
}

TEST(SandboxStdio, TheProgramGetsTheNamedDescriptorsAndDevNull) {
    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    Policy p = default_policy();
    // cat reads /dev/null, so it ends at once; a caller's stdin would be read instead.
    p.process.argv = {"/bin/sh", "-c", "echo out; echo err >&2; cat; readlink /proc/self/fd/0"};
    p.process.stdio = {-1, out[1], out[1]};
    Outcome o = Sandbox(p).run();
    ::close(out[1]);
    EXPECT_TRUE(o.exited);
    EXPECT_EQ(o.exit_code, 0);
    EXPECT_EQ(drain(out[0]), "out\nerr\n/dev/null\n");
    ::close(out[0]);
}

TEST(SandboxStdio, ADescriptorThatIsNotOpenOrATerminalBesideIsRefused) {
    int closed[2];
    ASSERT_EQ(::pipe2(closed, O_CLOEXEC), 0);
    ::close(closed[0]);
    ::close(closed[1]);
    Policy p = default_policy();
    p.process.argv = {"/bin/true"};
    p.process.stdio = {-1, closed[1], 2};
    try {
        Sandbox(p).run();
        ADD_FAILURE() << "a closed descriptor was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::Usage);
        EXPECT_NE(std::string(e.what()).find("process.stdio"), std::string::npos) << e.what();
    }
    p.process.stdio = {-1, 1, 2};
    p.process.tty = true;
    try {
        Sandbox(p).run();
        ADD_FAILURE() << "a terminal beside process.stdio was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::Usage);
        EXPECT_NE(std::string(e.what()).find("--tty"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace caisson
