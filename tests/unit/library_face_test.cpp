// The library face, where the caller's process is shared with the sandbox's supervisor:
// process.stdio gives the program 0, 1, 2 from descriptors the caller names (-1: /dev/null)
// instead of the caller's own, and a descriptor that is not open, or a terminal asked for
// beside them, is refused before anything starts; the caller's signals stay the caller's.
#include <caisson/error.hpp>
#include <caisson/sandbox.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

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

// A host character device the policy names is shown in the sandbox's /dev under its name
// (caisson's VM jail gives qemu /dev/kvm so), only if the host's node is that device, and
// never over one of the six caisson places there itself.
TEST(LibraryFace, ADeviceNodeThePolicyNamesIsInDevAndOnlyThatOne) {
    struct stat st{};
    if (::stat("/dev/fuse", &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 || minor(st.st_rdev) != 229)
        GTEST_SKIP() << "no /dev/fuse (c 10:229) on this host to show";
    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    Policy p = default_policy();
    p.fs.device_nodes = {{"fuse", 10, 229}};
    p.resources.devices = {{true, 'c', 10, 229, "rw"}};
    p.process.argv = {"/bin/sh", "-c", "stat -c '%F %t:%T' /dev/fuse; ls /dev | tr '\\n' ' '"};
    p.process.stdio = {-1, out[1], out[1]};
    Outcome o = Sandbox(p).run();
    ::close(out[1]);
    EXPECT_TRUE(o.exited && o.exit_code == 0);
    EXPECT_EQ(drain(out[0]), "character special file a:e5\nfd full fuse null ptmx pts random shm stderr stdin stdout tty urandom zero ");
    ::close(out[0]);
    struct Wrong {
        Filesystem::DeviceNode node;
        const char* said;
    };
    for (const Wrong& w : {Wrong{{"fuse", 1, 3}, "device rule"}, Wrong{{"null", 1, 3}, "not a name"}, Wrong{{"../fuse", 10, 229}, "not a name"},
                           Wrong{{"", 10, 229}, "not a name"}, Wrong{{"stdin", 10, 229}, "not a name"}}) {
        p.fs.device_nodes = {w.node};
        p.process.argv = {"/bin/true"};
        p.process.stdio = {-1, -1, -1};
        std::string error;
        try {
            o = Sandbox(p).run();
        } catch (const std::exception& e) {
            error = e.what();
        }
        EXPECT_NE(error.find(w.said), std::string::npos) << w.node.name << ": " << error;
    }
    // Without the device cgroup's leave, none is shown: without a rule no device filter
    // would stand between the node and its mode.
    p.fs.device_nodes = {{"fuse", 10, 229}};
    p.resources.devices.clear();
    std::string error;
    try {
        o = Sandbox(p).run();
    } catch (const std::exception& e) {
        error = e.what();
    }
    EXPECT_NE(error.find("needs a device rule"), std::string::npos) << error;
}

// A caller (a daemon) with its stdin closed: the number is filled with /dev/null before the
// launcher opens anything, so the program never gets one of caisson's own descriptors (a
// cgroup directory would be a way out) as its stdin.
TEST(LibraryFace, AClosedStdinIsNullNotOneOfCaissonsDescriptors) {
    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    Policy p = default_policy();  // (it reads a profile: before 0 is closed)
    const int saved = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
    ASSERT_GE(saved, 0);
    ::close(0);
    p.process.argv = {"/usr/bin/stat", "-L", "-c", "%F %t:%T", "/proc/self/fd/0"};
    p.process.stdio = {0, out[1], 2};
    std::string error;
    Outcome o;
    try {
        o = Sandbox(p).run();
    } catch (const std::exception& e) {
        error = e.what();
    }
    ::dup2(saved, 0);
    ::close(saved);
    ::close(out[1]);
    EXPECT_TRUE(error.empty()) << error;
    EXPECT_EQ(drain(out[0]), "character special file 1:3\n");
    ::close(out[0]);
}

TEST(LibraryFace, ADirectoryAsAStreamIsRefused) {
    int dir = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int path = ::open("/etc/hostname", O_PATH | O_CLOEXEC);
    ASSERT_GE(dir, 0);
    ASSERT_GE(path, 0);
    for (int fd : {dir, path}) {
        Policy p = default_policy();
        p.process.argv = {"/bin/true"};
        p.process.stdio = {fd, 1, 2};
        try {
            Sandbox(p).run();
            ADD_FAILURE() << "descriptor " << fd << " was given as stdin";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::Usage);
            EXPECT_NE(std::string(e.what()).find("a way out of the sandbox's root"), std::string::npos) << e.what();
        }
    }
    ::close(dir);
    ::close(path);
}

int g_handled_pipe = -1;  // the handler's only way out: a write is async-signal-safe

// A sandbox on a thread of its own whose program says "ready" and then waits for its stdin to
// end; finish() ends it and gives its outcome. The caller's ends of the program's streams stay
// open until the sandbox is over: they are checked open at its start, whenever the thread
// gets there.
class WaitingProgram {
public:
    WaitingProgram() {
        if (::pipe2(in_, O_CLOEXEC) < 0 || ::pipe2(out_, O_CLOEXEC) < 0) return;
        Policy p = default_policy();
        p.process.argv = {"/bin/sh", "-c", "echo ready; cat >/dev/null"};
        p.process.stdio = {in_[0], out_[1], 2};
        thread_ = std::thread([this, p] {
            try {
                outcome_ = Sandbox(p).run();
            } catch (const std::exception& e) {
                error_ = e.what();
            }
        });
        // Our own end of its stdout stays open too: a sandbox that failed is waited for only
        // so long.
        pollfd pf{out_[0], POLLIN, 0};
        char line[6];
        started_ = ::poll(&pf, 1, 30000) == 1 && ::read(out_[0], line, sizeof(line)) == 6;
    }
    ~WaitingProgram() { finish(); }
    bool started() const { return started_; }
    const std::string& error() const { return error_; }
    const Outcome& finish() {
        if (thread_.joinable()) {
            ::close(in_[1]);
            thread_.join();
            for (int fd : {in_[0], out_[0], out_[1]}) ::close(fd);
        }
        return outcome_;
    }

private:
    int in_[2] = {-1, -1}, out_[2] = {-1, -1};
    std::thread thread_;
    bool started_ = false;
    Outcome outcome_;
    std::string error_;
};

// A host with a handler of its own for SIGUSR1 and SIGTERM, and a sandbox running on another
// thread: every signal sent to the host reaches the handler, none goes to the program (which
// SIGUSR1 would kill). A relay's signalfd took one in about 50 from the shared queue before.
TEST(LibraryFace, TheCallersSignalsStayTheCallers) {
    int handled[2];
    ASSERT_EQ(::pipe2(handled, O_CLOEXEC), 0);
    g_handled_pipe = handled[1];
    struct sigaction sa{}, old_usr1{}, old_term{};
    sa.sa_handler = [](int) { (void)!::write(g_handled_pipe, "s", 1); };
    ::sigemptyset(&sa.sa_mask);
    ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old_usr1), 0);
    ASSERT_EQ(::sigaction(SIGTERM, &sa, &old_term), 0);
    WaitingProgram program;
    const bool started = program.started();
    EXPECT_TRUE(started) << "the program did not start: " << program.error();
    int stolen = 0;
    for (int i = 0; started && i < 200; ++i) {
        // From another thread, as from another process: the signal is the process's, queued
        // for whichever thread takes it first.
        std::thread([i] { ::kill(::getpid(), i % 2 ? SIGTERM : SIGUSR1); }).join();
        pollfd pf{handled[0], POLLIN, 0};
        int rc;
        do rc = ::poll(&pf, 1, 5000);
        while (rc < 0 && errno == EINTR);
        char c;
        if (rc == 1 && ::read(handled[0], &c, 1) == 1) continue;
        ++stolen;
    }
    const Outcome& o = program.finish();
    ::sigaction(SIGUSR1, &old_usr1, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    EXPECT_EQ(stolen, 0) << "signals the host's handler never saw";
    EXPECT_TRUE(program.error().empty()) << program.error();
    EXPECT_TRUE(o.exited) << "the program died of signal " << o.term_signal;
    EXPECT_EQ(o.exit_code, 0);
    ::close(handled[0]);
    ::close(handled[1]);
}

// A signal to the caller's whole process group (a terminal's ^C, a service manager's stop)
// is the caller's: the sandbox's init is in a session of its own and never takes it, and the
// program (not asked to be forwarded anything) runs on. Before, init was in the caller's
// group and passed the SIGTERM on, and the program died of it. In a child of its own group,
// so that the test's runner is not signalled.
TEST(LibraryFace, AGroupsSignalIsTheCallersAlone) {
    int result[2];
    ASSERT_EQ(::pipe2(result, O_CLOEXEC), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto report = [&](const std::string& what) {
            (void)!::write(result[1], what.data(), what.size());
            ::_exit(0);
        };
        if (::setpgid(0, 0) < 0) report("setpgid failed");
        int handled[2];
        if (::pipe2(handled, O_CLOEXEC) < 0) report("pipe failed");
        g_handled_pipe = handled[1];
        struct sigaction sa{};
        sa.sa_handler = [](int) { (void)!::write(g_handled_pipe, "s", 1); };
        ::sigemptyset(&sa.sa_mask);
        ::sigaction(SIGTERM, &sa, nullptr);
        WaitingProgram program;
        const bool started = program.started();
        if (started) ::kill(0, SIGTERM);
        pollfd pf{handled[0], POLLIN, 0};
        const bool seen = started && ::poll(&pf, 1, 5000) == 1;
        const Outcome& o = program.finish();
        if (!started) report("the program did not start: " + program.error());
        if (!seen) report("the caller's handler did not run");
        if (!o.exited || o.exit_code != 0) report("the program died of signal " + std::to_string(o.term_signal));
        report("ok");
    }
    ::close(result[1]);
    std::string said;
    char buf[256];
    for (ssize_t n; (n = ::read(result[0], buf, sizeof(buf))) > 0;) said.append(buf, static_cast<size_t>(n));
    ::close(result[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_EQ(said, "ok");
}

}  // namespace
}  // namespace caisson
