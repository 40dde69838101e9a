// The escape battery: each attack runs inside `caisson run` with the default profile, must
// be blocked, and the host must be unchanged.
#include "harness.hpp"
#include "loopback.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include <fcntl.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <cstring>

namespace caisson::test {
namespace {

constexpr const char* kInside = "/tmp/attacker";

RunResult attack(const std::string& name, const std::vector<std::string>& extra = {}, const RunOptions& o = {}) {
    std::vector<std::string> args{"run", "--profile", "default", "--ro-bind", CAISSON_ATTACKER, kInside, "--",
                                  kInside, host_ns("pid"), name};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_caisson(args, o);
}

void expect_blocked(const RunResult& r) {
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(r.out.rfind("blocked: ", 0), 0u) << r.out << r.err;
    EXPECT_EQ(r.out.find("ESCAPED"), std::string::npos) << r.out;
}

TEST(Escape, AttackerRefusesToRunOutsideASandbox) {
    int st = 0;
    pid_t pid = ::fork();
    if (pid == 0) {
        int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 1);
        ::execl(CAISSON_ATTACKER, CAISSON_ATTACKER, host_ns("pid").c_str(), "kill-all", nullptr);
        ::_exit(127);
    }
    ::waitpid(pid, &st, 0);
    EXPECT_EQ(WEXITSTATUS(st), 2);
}

TEST(Escape, OverwriteRuntimeThroughProcExe) { expect_blocked(attack("proc-exe-write")); }

TEST(Escape, LeakedDescriptor) {
    int leak = ::open("/", O_RDONLY | O_DIRECTORY);  // deliberately inheritable
    RunOptions o;
    o.extra_fds = {{5, leak}};
    expect_blocked(attack("leaked-fds", {}, o));
    ::close(leak);
}

// CVE-2024-21626 and its variants: a working directory given as a link through a descriptor
// that the sandbox's init or program might still hold (the cgroup directory with a cgroup
// option, a host directory the caller left inheritable), or through /proc's other links.
// Each is refused, or resolved inside the root: never a directory of the host.
TEST(Escape, WorkingDirectoryThroughAHostDescriptor) {
    int leak = ::open("/", O_RDONLY | O_DIRECTORY);  // inheritable, not passed
    RunOptions o;
    o.extra_fds = {{9, leak}};
    std::vector<std::string> paths{"/proc/self/cwd/..", "/proc/1/cwd", "/proc/self/root", "/proc/self/root/..",
                                   "/proc/thread-self/fd/3", "/proc/1/root", "/../../.."};
    for (int fd = 0; fd <= 64; ++fd) paths.push_back("/proc/self/fd/" + std::to_string(fd));
    for (const auto& cwd : paths) {
        auto r = run_caisson({"run", "--profile", "default", "--pids", "64", "--chdir", cwd, "--ro-bind", CAISSON_ATTACKER,
                              kInside, "--", kInside, host_ns("pid"), "cwd-outside-root"},
                             o);
        EXPECT_EQ(r.out.find("ESCAPED"), std::string::npos) << cwd << ": " << r.out;
        if (r.status == 125) EXPECT_NE(r.err.find("chdir"), std::string::npos) << cwd << ": " << r.err;
        else expect_blocked(r);
    }
    ::close(leak);
}

TEST(Escape, NestedUserNamespaceCannotUndoTheMounts) { expect_blocked(attack("nested-userns-remount")); }
TEST(Escape, MknodBlockDevice) { expect_blocked(attack("mknod-block")); }
TEST(Escape, LoadKernelModule) { expect_blocked(attack("load-module")); }
TEST(Escape, Reboot) { expect_blocked(attack("reboot")); }
TEST(Escape, SetHostClock) { expect_blocked(attack("set-clock")); }
TEST(Escape, SysrqTrigger) { expect_blocked(attack("sysrq")); }
TEST(Escape, WriteProcSys) { expect_blocked(attack("proc-sys")); }
TEST(Escape, PtraceInit) { expect_blocked(attack("ptrace-init")); }

TEST(Escape, TakeOverTheOpener) {
    // A filter that allows every call: only the opener's own protection (not dumpable, the
    // program without CAP_SYS_PTRACE) stands in the way.
    TempDir dir;
    std::string policy = dir.path() + "/open.toml";
    // io_uring denied: with it [open] rules would not hold at all, and caisson refuses them.
    std::ofstream(policy) << "filter = true\ndefault = \"allow\"\n[[rule]]\nsyscall = \"io_uring_setup\"\naction = \"errno(EPERM)\"\n"
                             "[open]\ndefault = \"allow\"\n";
    expect_blocked(run_caisson({"run", "--seccomp", policy, "--ro-bind", CAISSON_ATTACKER, kInside, "--", kInside,
                                host_ns("pid"), "opener-takeover"}));
}
TEST(Escape, VsockOutsideTheNetworkNamespace) { expect_blocked(attack("vsock")); }
// CVE-class: a socket accepted in the host's network namespace keeps it. `caisson listen`'s
// program tries to disconnect its connection and connect it to a port of the host's loopback.
TEST(Escape, AConnectionFromListenCannotBeTurnedToTheHostsLoopback) {
    int target = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ASSERT_GE(target, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ASSERT_EQ(::bind(target, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(target, 4), 0);
    ASSERT_EQ(::getsockname(target, reinterpret_cast<sockaddr*>(&a), &len), 0);
    Server listener({caisson_path(), "listen", "--port", "0", "--address", "127.0.0.1", "--profile", "default", "--ro-bind",
                     CAISSON_ATTACKER, kInside, "--", kInside, host_ns("pid"), "reconnect-stdin",
                     std::to_string(ntohs(a.sin_port))});
    const std::string& line = listener.first_line();
    ASSERT_NE(line.find("listening on"), std::string::npos) << line;
    int s = connect_loopback(std::stoi(line.substr(line.rfind(':') + 1)));
    ASSERT_GE(s, 0);
    std::string out;
    char buf[256];
    for (ssize_t n; (n = ::read(s, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
    ::close(s);
    EXPECT_EQ(out.rfind("blocked: ", 0), 0u) << out;
    EXPECT_EQ(listener.stop(), 0);
    // The session is over, and whatever it connected would be queued here by now.
    EXPECT_LT(::accept4(target, nullptr, nullptr, SOCK_CLOEXEC), 0) << "the sandbox reached the host's loopback";
    ::close(target);
}

// The same through `caisson run` started by an inetd (xinetd passes the connection as stdin
// and stdout): the connection is relayed, and a socket that cannot be is refused.
TEST(Escape, AConnectionGivenToRunAsStdioCannotBeTurnedToTheHostsLoopback) {
    auto listener = [](sockaddr_in& a, int type) {
        int s = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
        a = {};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 ||
            (type == SOCK_STREAM && ::listen(s, 4) < 0) || ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) < 0)
            return -1;
        return s;
    };
    sockaddr_in target_addr{}, front_addr{}, udp_addr{};
    int target = listener(target_addr, SOCK_STREAM), front = listener(front_addr, SOCK_STREAM);
    ASSERT_GE(target, 0);
    ASSERT_GE(front, 0);
    ASSERT_EQ(::fcntl(target, F_SETFL, O_NONBLOCK), 0);
    int client = connect_loopback(ntohs(front_addr.sin_port));
    ASSERT_GE(client, 0);
    int conn = ::accept4(front, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(conn, 0);
    RunOptions o;
    o.stdin_fd = conn;
    o.extra_fds = {{1, conn}};
    auto r = run_caisson({"run", "--profile", "default", "--ro-bind", CAISSON_ATTACKER, kInside, "--", kInside, host_ns("pid"),
                          "reconnect-stdin", std::to_string(ntohs(target_addr.sin_port))},
                         o);
    EXPECT_EQ(r.status, 0) << r.err;
    // The connection is the caller's again, as it was: not shut, still blocking.
    EXPECT_EQ(::fcntl(conn, F_GETFL) & O_NONBLOCK, 0);
    EXPECT_EQ(::write(conn, "after\n", 6), 6) << std::strerror(errno);
    ::close(conn);
    std::string out;
    char buf[256];
    for (ssize_t n; (n = ::read(client, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
    ::close(client);
    EXPECT_EQ(out.rfind("blocked: ", 0), 0u) << out << r.err;
    EXPECT_TRUE(out.ends_with("\nafter\n")) << out;
    EXPECT_LT(::accept4(target, nullptr, nullptr, SOCK_CLOEXEC), 0) << "the sandbox reached the host's loopback";
    // A datagram socket cannot be relayed as a stream: refused, nothing run.
    int udp = listener(udp_addr, SOCK_DGRAM);
    ASSERT_GE(udp, 0);
    o.stdin_fd = udp;
    o.extra_fds = {};
    auto refused = run_caisson({"run", "--", "/bin/true"}, o);
    EXPECT_EQ(refused.status, 125);
    EXPECT_NE(refused.err.find("stdin is a UDP or raw socket of the caller's network:"), std::string::npos) << refused.err;
    // Sharing the caller's network under egress rules, which the kernel keys on the cgroup a
    // socket was made in (not the sandbox's for this one), is no excuse either.
    auto ruled = run_caisson({"run", "--share-net", "--deny-private", "--", "/bin/true"}, o);
    EXPECT_EQ(ruled.status, 125);
    EXPECT_NE(ruled.err.find("stdin is a UDP or raw socket of the caller's network:"), std::string::npos) << ruled.err;
    ::close(udp);
    ::close(target);
    ::close(front);
}

TEST(Escape, RawAndPacketSockets) { expect_blocked(attack("raw-socket")); }
TEST(Escape, OpenByHandleShocker) { expect_blocked(attack("open-by-handle")); }

// The filter kills a call from another ABI before the kernel runs it (SIGSYS). This
// machine's kernel also faults `int 0x80` itself (SIGSEGV), even outside a sandbox.
TEST(Escape, X32SyscallToDodgeTheFilter) {
    auto r = attack("x32-unshare");
    EXPECT_EQ(r.status, 128 + SIGSYS) << r.out << r.err;
    EXPECT_EQ(r.out.find("ESCAPED"), std::string::npos) << r.out;
}

TEST(Escape, I386SyscallToDodgeTheFilter) {
    auto r = attack("int80-unshare");
    EXPECT_TRUE(r.status == 128 + SIGSYS || r.status == 128 + SIGSEGV) << r.status << r.out << r.err;
    EXPECT_EQ(r.out.find("ESCAPED"), std::string::npos) << r.out;
}

TEST(Escape, KernelAttackSurface) { expect_blocked(attack("kernel-surface")); }
TEST(Escape, KernelAddresses) { expect_blocked(attack("kernel-addresses")); }

TEST(Escape, CgroupFilesystemFromInside) {
    auto r = run_caisson({"run", "--profile", "default", "--memory", "64M", "--ro-bind", CAISSON_ATTACKER, kInside,
                          "--", kInside, host_ns("pid"), "cgroup-escape"});
    expect_blocked(r);
}

TEST(Escape, SetuidRootBinaryGivesNothing) {
    // A setuid-root copy of the attacker, run by the host's nobody (no user namespace):
    // no_new_privs and the nosuid mount keep its euid.
    TempDir dir;
    std::string suid = dir.path() + "/attacker";
    ASSERT_EQ(std::system(("cp " + std::string(CAISSON_ATTACKER) + " " + suid).c_str()), 0);
    ASSERT_EQ(::chown(suid.c_str(), 0, 0), 0);
    ASSERT_EQ(::chmod(suid.c_str(), 04755), 0);
    auto r = run_caisson({"run", "--share-user", "--ro-bind", dir.path(), "/mnt", "--", "/mnt/attacker",
                          host_ns("pid"), "report-euid"});
    expect_blocked(r);
}

TEST(Escape, ForkBombStopsAtThePidsLimit) {
    auto r = run_caisson({"run", "--profile", "default", "--pids", "32", "--ro-bind", CAISSON_ATTACKER, kInside, "--",
                          kInside, host_ns("pid"), "fork-bomb"});
    expect_blocked(r);
    EXPECT_NE(r.out.find("EAGAIN"), std::string::npos) << r.out;
}

// With no flag at all: the default ceiling stops a fork bomb.
TEST(Escape, ForkBombStopsAtTheDefaultCeiling) {
    auto r = attack("fork-bomb");
    expect_blocked(r);
    EXPECT_NE(r.out.find("EAGAIN"), std::string::npos) << r.out;
}

// A sandbox that takes every inotify instance it can leaves the host's root its own.
TEST(Escape, InotifyFloodLeavesTheHostItsOwn) {
    int host_fd = -1, host_errno = 0;
    // The attacker prints its verdict and waits: the host is checked while it holds them.
    std::string out;
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(p[1], 1);
        ::execl(caisson_path(), caisson_path(), "run", "--profile", "default", "--max-inotify-instances", "unlimited",
                "--ro-bind", CAISSON_ATTACKER, kInside, "--", kInside, host_ns("pid").c_str(), "inotify-flood", nullptr);
        ::_exit(127);
    }
    ::close(p[1]);
    char buf[256];
    ssize_t n;
    while (out.find('\n') == std::string::npos && (n = ::read(p[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    host_fd = ::inotify_init1(IN_CLOEXEC);
    host_errno = errno;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    ::close(p[0]);
    EXPECT_EQ(out.rfind("blocked: EMFILE", 0), 0u) << out;
    EXPECT_GE(host_fd, 0) << "the host's root has no inotify instance left: " << strerrorname_np(host_errno);
    if (host_fd >= 0) ::close(host_fd);
}

// The sandbox's user namespace belongs to no host account: a host process running as the
// uid the sandbox maps to (nobody) cannot enter it with every capability.
TEST(Escape, TheHostsNobodyCannotEnterTheSandbox) {
    int verdict = -1;
    RunOptions o;
    o.on_ready = [&](pid_t caisson) {
        pid_t init = 0;
        std::ifstream("/proc/" + std::to_string(caisson) + "/task/" + std::to_string(caisson) + "/children") >> init;
        std::string ns = "/proc/" + std::to_string(init) + "/ns/user";
        int fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
        pid_t child = ::fork();
        if (child == 0) {
            if (::setresgid(65534, 65534, 65534) < 0 || ::setresuid(65534, 65534, 65534) < 0) ::_exit(2);
            ::_exit(::setns(fd, CLONE_NEWUSER) == 0 ? 1 : 0);
        }
        int st = 0;
        ::waitpid(child, &st, 0);
        verdict = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        ::close(fd);
        ::kill(caisson, SIGTERM);
    };
    auto r = run_probe({}, {"--wait-signal"}, o);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(verdict, 0) << "host uid 65534 entered the sandbox's user namespace";
}

TEST(Escape, FillingTheDiskStopsAtTheTmpfsSize) {
    auto r = run_caisson({"run", "--profile", "default", "--tmp-size", "8M", "--ro-bind", CAISSON_ATTACKER, kInside,
                          "--", kInside, host_ns("pid"), "fill-disk"});
    expect_blocked(r);
    EXPECT_NE(r.out.find("ENOSPC"), std::string::npos) << r.out;
}

// CVE-2021-30465's shape: whoever controls the rootfs swaps a directory on the way to a
// mount target for a symlink to "/" while caisson sets up. Targets resolve inside the root
// (openat2 RESOLVE_IN_ROOT, directories made relative to their resolved parent), so the
// swap can only move the mount around inside the rootfs: the host's / never gets it.
TEST(Escape, MountTargetSymlinkRace) {
    TempDir root;
    make_mini_rootfs(root.path(), kNobodyUid);
    const std::string name = "caisson-race-" + std::to_string(::getpid());
    const std::string data = root.path() + "/data", spare = root.path() + "/data.dir";
    std::filesystem::create_directories(data);
    ASSERT_EQ(::chown(data.c_str(), kNobodyUid, kNobodyUid), 0);
    std::atomic<bool> stop{false};
    std::thread flipper([&] {
        // data: a directory, then a symlink to "/", and back, as fast as it goes.
        while (!stop) {
            ::rename(data.c_str(), spare.c_str());
            ::symlink("/", data.c_str());
            ::unlink(data.c_str());
            ::rename(spare.c_str(), data.c_str());
        }
    });
    int ran = 0;
    for (int i = 0; i < 40; ++i) {
        auto r = run_caisson({"run", "--rootfs", root.path(), "--writable-root", "--tmpfs", "/data/" + name, "--", "/probe"});
        if (r.status == 0) ++ran;
        struct stat st{};
        EXPECT_NE(::lstat(("/" + name).c_str(), &st), 0) << "a mount target was made on the host's /";
    }
    stop = true;
    flipper.join();
    EXPECT_GT(ran, 0);  // the race did not simply stop every run
    // Anything the swaps made stayed inside the rootfs.
    std::filesystem::remove_all(root.path() + "/" + name);
}

TEST(Escape, HostnameStaysTheHosts) {
    char before[65] = {}, after[65] = {};
    ::gethostname(before, 64);
    auto r = attack("hostname");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    ::gethostname(after, 64);
    EXPECT_STREQ(before, after);
}

TEST(Escape, SignalsCannotReachHostProcesses) {
    // A canary on the host, running as the same host uid the sandbox maps to.
    pid_t canary = ::fork();
    if (canary == 0) {
        if (::setresuid(65534, 65534, 65534) < 0) ::_exit(1);
        ::pause();
        ::_exit(0);
    }
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, canary, 0));
    auto r = attack("kill-all");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    siginfo_t info{};
    info.si_pid = 0;
    ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG);
    EXPECT_EQ(info.si_pid, 0) << "the host's canary was killed";
    ::kill(canary, SIGKILL);
    ::waitpid(canary, nullptr, 0);
    ::close(pidfd);
}

TEST(Escape, AbstractUnixSocketOfTheHost) {
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string name = "caisson-escape-" + std::to_string(::getpid());
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(::listen(s, 1), 0);
    expect_blocked(attack("abstract-socket", {name}));
    ::close(s);
}

}  // namespace
}  // namespace caisson::test
