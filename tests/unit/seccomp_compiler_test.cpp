// The seccomp compiler, tested like a compiler: policies are compiled, then run in the
// userspace BPF interpreter on tables of (ABI, syscall, arguments) -> expected action.
#include "filter/bpf_eval.hpp"
#include "filter/condition.hpp"
#include "filter/seccomp_compiler.hpp"
#include "filter/syscall_table.hpp"
#include "policy/seccomp_profile.hpp"
#include "run/egress_confinement.hpp"

#include <caisson/error.hpp>

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <initializer_list>

namespace caisson {
namespace {

using filter::evaluate;
using filter::SeccompInput;
using seccomp::Abi;

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kEperm = SECCOMP_RET_ERRNO | 1;
constexpr uint32_t kKill = SECCOMP_RET_KILL_PROCESS;

struct Compiled {
    filter::Compiled c;
    uint32_t run(const char* syscall, std::initializer_list<uint64_t> args = {}, Abi abi = Abi::X86_64) const {
        SeccompInput in;
        in.arch = filter::audit_arch(abi);
        auto nr = filter::syscall_number(abi, syscall);
        EXPECT_TRUE(nr) << syscall;
        in.nr = nr.value_or(0);
        size_t i = 0;
        for (uint64_t a : args) in.args[i++] = a;
        auto r = evaluate(c.program, in);
        EXPECT_TRUE(r.ok) << r.error;
        return r.action;
    }
    uint32_t raw(uint32_t arch, uint32_t nr) const {
        SeccompInput in;
        in.arch = arch;
        in.nr = nr;
        auto r = evaluate(c.program, in);
        EXPECT_TRUE(r.ok) << r.error;
        return r.action;
    }
};

Compiled compile(const std::string& toml, filter::CompileOptions opt = {}) {
    return {filter::compile(seccomp_profile::parse_text(toml, "test.toml"), opt)};
}

TEST(SeccompCondition, ParsesOperatorsConstantsAndSets) {
    using filter::condition_text;
    using filter::parse_condition;
    EXPECT_EQ(condition_text(parse_condition("arg1 == TIOCSTI")), "arg1 == 0x5412");
    EXPECT_EQ(condition_text(parse_condition("arg0 & CLONE_NEWUSER")), "(arg0 & 0x10000000) != 0");
    EXPECT_EQ(condition_text(parse_condition("(arg2 & O_ACCMODE) != O_RDONLY")), "(arg2 & 3) != 0");
    EXPECT_EQ(condition_text(parse_condition("arg0 in {1, 2}")), "arg0 == 1 || arg0 == 2");
    EXPECT_EQ(condition_text(parse_condition("!(arg0 < 5) && low32(arg1) >= -1")),
              "!(arg0 < 5) && low32(arg1) >= 0xffffffffffffffff");
    EXPECT_EQ(condition_text(parse_condition("arg0 == 1 || arg1 == 2 && arg2 == 3")),
              "arg0 == 1 || (arg1 == 2 && arg2 == 3)");
    EXPECT_EQ(parse_condition("arg3 <= ~0").value, ~0ull);
}

TEST(SeccompCondition, ErrorsNameTheColumn) {
    auto message = [](const char* text) {
        try {
            filter::parse_condition(text);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(message("arg6 == 1"), "column 1: argument index 6 out of range (a system call has arg0 .. arg5)");
    EXPECT_EQ(message("arg0 == NOT_A_CONSTANT"), "column 9: unknown constant 'NOT_A_CONSTANT'");
    EXPECT_EQ(message("arg0 =="), "column 8: expected a value");
    EXPECT_EQ(message("arg0 == 1 &&"), "column 13: expected argN, low32(argN), '!' or '('");
    EXPECT_EQ(message("(arg0 == 1"), "column 11: expected ')'");
    EXPECT_EQ(message("arg0 == 99999999999999999999"), "column 9: number out of range");
}

TEST(SeccompCompiler, EveryAction) {
    auto c = compile(R"toml(
default = "kill-thread"
[[rule]]
syscall = "read"
action = "allow"
[[rule]]
syscall = "write"
action = "errno(EACCES)"
[[rule]]
syscall = "getpid"
action = "trap"
[[rule]]
syscall = "getppid"
action = "log"
[[rule]]
syscall = "gettid"
action = "trace(7)"
[[rule]]
syscall = "getuid"
action = "notify"
[[rule]]
syscall = "getgid"
action = "kill-process"
[[rule]]
syscall = "geteuid"
action = "errno(13)"
)toml");
    EXPECT_EQ(c.run("read"), kAllow);
    EXPECT_EQ(c.run("write"), SECCOMP_RET_ERRNO | EACCES);
    EXPECT_EQ(c.run("getpid"), SECCOMP_RET_TRAP);
    EXPECT_EQ(c.run("getppid"), SECCOMP_RET_LOG);
    EXPECT_EQ(c.run("gettid"), SECCOMP_RET_TRACE | 7);
    EXPECT_EQ(c.run("getuid"), SECCOMP_RET_USER_NOTIF);
    EXPECT_EQ(c.run("getgid"), kKill);
    EXPECT_EQ(c.run("geteuid"), SECCOMP_RET_ERRNO | EACCES);
    EXPECT_EQ(c.run("close"), SECCOMP_RET_KILL_THREAD);
    // Kill-process as a notification, for a supervisor that reports it.
    filter::CompileOptions notify;
    notify.kill_process_via_notify = true;
    auto n = compile("default = \"kill\"\nallow = [\"read\"]", notify);
    EXPECT_EQ(n.run("write"), SECCOMP_RET_USER_NOTIF);
    EXPECT_EQ(n.run("read"), kAllow);
}

TEST(SeccompCompiler, SixtyFourBitComparisonsAtTheEdges) {
    const uint64_t edges[] = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, 0x100000001,
                              0x7fffffffffffffff, 0x8000000000000000, 0xfffffffeffffffff, 0xffffffffffffffff};
    const char* ops[] = {"==", "!=", "<", "<=", ">", ">="};
    for (uint64_t v : edges) {
        for (int op = 0; op < 6; ++op) {
            char cond[96];
            std::snprintf(cond, sizeof(cond), "arg2 %s 0x%llx", ops[op], static_cast<unsigned long long>(v));
            auto c = compile(std::string("default = \"errno(EPERM)\"\n[[rule]]\nsyscall = \"mmap\"\nif = \"") + cond + "\"");
            for (uint64_t a : edges) {
                bool expect = op == 0 ? a == v : op == 1 ? a != v : op == 2 ? a < v : op == 3 ? a <= v : op == 4 ? a > v : a >= v;
                EXPECT_EQ(c.run("mmap", {0, 0, a}), expect ? kAllow : kEperm) << cond << " with arg2=" << a;
            }
        }
    }
}

TEST(SeccompCompiler, MaskedEqualitySetsAndLogic) {
    auto c = compile(R"toml(
[[rule]]
syscall = "openat"
action = "allow"
if = "(arg2 & O_ACCMODE) == O_RDONLY && !(arg2 & O_CREAT)"
[[rule]]
syscall = "socket"
action = "allow"
if = "arg0 in {AF_UNIX, AF_INET} || arg2 == 0 && arg1 == SOCK_DGRAM"
[[rule]]
syscall = "mmap"
action = "allow"
if = "!(arg2 & PROT_EXEC) || (arg3 & 0xffff00000000) == 0x123400000000"
)toml");
    EXPECT_EQ(c.run("openat", {0, 0, O_RDONLY}), kAllow);
    EXPECT_EQ(c.run("openat", {0, 0, O_RDONLY | O_CLOEXEC}), kAllow);
    EXPECT_EQ(c.run("openat", {0, 0, O_RDWR}), kEperm);
    EXPECT_EQ(c.run("openat", {0, 0, O_RDONLY | O_CREAT}), kEperm);
    EXPECT_EQ(c.run("socket", {AF_UNIX, SOCK_STREAM, 0}), kAllow);
    EXPECT_EQ(c.run("socket", {AF_INET6, SOCK_DGRAM, 0}), kAllow);
    EXPECT_EQ(c.run("socket", {AF_INET6, SOCK_STREAM, 0}), kEperm);
    EXPECT_EQ(c.run("socket", {AF_NETLINK, SOCK_DGRAM, 1}), kEperm);
    EXPECT_EQ(c.run("mmap", {0, 0, PROT_READ}), kAllow);
    EXPECT_EQ(c.run("mmap", {0, 0, PROT_EXEC, 0x123400000001}), kAllow);
    EXPECT_EQ(c.run("mmap", {0, 0, PROT_EXEC, 0x123500000000}), kEperm);
}

TEST(SeccompCompiler, IntArgumentsIgnoreGarbageInTheHighHalf) {
    // ioctl's request is an unsigned int: TIOCSTI with junk above bit 31 is still TIOCSTI
    // to the kernel, so it must still be denied.
    auto c = compile(R"toml(
default = "allow"
[[rule]]
syscall = "ioctl"
action = "errno(EPERM)"
if = "arg1 == TIOCSTI"
[[rule]]
syscall = "kill"
action = "errno(EPERM)"
if = "arg0 == -1"
[[rule]]
syscall = "mmap"
action = "errno(EPERM)"
if = "low32(arg0) == 0x1000"
)toml");
    EXPECT_EQ(c.run("ioctl", {0, TIOCSTI}), kEperm);
    EXPECT_EQ(c.run("ioctl", {0, 0xdead00000000ull | TIOCSTI}), kEperm);
    EXPECT_EQ(c.run("ioctl", {0, TIOCGWINSZ}), kAllow);
    // kill(pid_t -1): negative constants compare as the int the kernel reads.
    EXPECT_EQ(c.run("kill", {0xffffffffull}), kEperm);
    EXPECT_EQ(c.run("kill", {0xffffffffffffffffull}), kEperm);
    EXPECT_EQ(c.run("kill", {0x7fffffffull}), kAllow);
    EXPECT_EQ(c.run("mmap", {0xabcd00001000ull}), kEperm);
    // A value that cannot be a 32-bit int is refused, not silently truncated.
    EXPECT_THROW(compile("[[rule]]\nsyscall = \"ioctl\"\nif = \"arg1 == 0x100000000\""), Error);
}

TEST(SeccompCompiler, ModesCompareTheSixteenBitsTheKernelReads) {
    // chmod's mode is a umode_t: 0x10000 | 04755 is a setuid mode to the kernel.
    auto c = compile(R"toml(
default = "allow"
[[rule]]
syscall = "fchmod"
action = "errno(EPERM)"
if = "arg1 & 04000"
)toml");
    EXPECT_EQ(c.run("fchmod", {3, 04755}), kEperm);
    EXPECT_EQ(c.run("fchmod", {3, 0x10000 | 04755}), kEperm);
    EXPECT_EQ(c.run("fchmod", {3, 0755}), kAllow);
    EXPECT_THROW(compile("[[rule]]\nsyscall = \"fchmod\"\nif = \"arg1 == 0x10000\""), Error);
}

TEST(SeccompCompiler, UnknownArgumentWidthsAreWarnedAbout) {
    auto c = compile("[[rule]]\nsyscall = \"mbind\"\nif = \"arg2 == 1\"\n");
    ASSERT_EQ(c.c.warnings.size(), 1u);
    EXPECT_NE(c.c.warnings[0].find("the width of mbind's argument 2 is unknown"), std::string::npos) << c.c.warnings[0];
}

TEST(SeccompCompiler, I386MultiplexersCannotHideArgumentRules) {
    const char* policy = R"toml(
default = "allow"
abi = ["x86_64", "i386"]
[[rule]]
syscall = "socket"
action = "errno(EPERM)"
if = "arg0 == AF_NETLINK"
)toml";
    try {
        compile(policy);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("on i386, socket is also reached through socketcall(2) or ipc(2)"),
                  std::string::npos)
            << e.what();
    }
    // Allowing them is fine: where the rule cannot apply, the default decides.
    EXPECT_NO_THROW(compile("default = \"errno(EPERM)\"\nabi = [\"x86_64\", \"i386\"]\nallow = [\"socket\"]\n"));
}

TEST(SeccompCompiler, OtherAbisAreKilledUnlessListed) {
    auto native = compile("default = \"allow\"");
    EXPECT_EQ(native.raw(AUDIT_ARCH_X86_64, 39), kAllow);
    EXPECT_EQ(native.raw(AUDIT_ARCH_X86_64, filter::kX32SyscallBit | 39), kKill);  // x32 getpid
    EXPECT_EQ(native.raw(AUDIT_ARCH_X86_64, 0xffffffffu), kKill);
    EXPECT_EQ(native.raw(AUDIT_ARCH_I386, 20), kKill);                             // int 0x80 getpid
    EXPECT_EQ(native.raw(AUDIT_ARCH_AARCH64, 172), kKill);
    EXPECT_EQ(native.raw(AUDIT_ARCH_X86_64, 100000), kAllow);  // unknown numbers get the default

    auto all = compile("default = \"errno(EPERM)\"\nabi = [\"x86_64\", \"x32\", \"i386\"]\nallow = [\"getpid\"]");
    EXPECT_EQ(all.run("getpid", {}, Abi::X86_64), kAllow);
    EXPECT_EQ(all.run("getpid", {}, Abi::X32), kAllow);
    EXPECT_EQ(all.run("getpid", {}, Abi::I386), kAllow);
    EXPECT_EQ(all.run("getppid", {}, Abi::X32), kEperm);
    EXPECT_EQ(all.run("getppid", {}, Abi::I386), kEperm);
    EXPECT_EQ(all.raw(AUDIT_ARCH_AARCH64, 172), kKill);

    auto only_x32 = compile("default = \"errno(EPERM)\"\nabi = [\"x32\"]\nallow = [\"getpid\"]");
    EXPECT_EQ(only_x32.run("getpid", {}, Abi::X32), kAllow);
    EXPECT_EQ(only_x32.raw(AUDIT_ARCH_X86_64, 39), kKill);
}

TEST(SeccompCompiler, FirstMatchWinsAndWarnsAboutDeadRules) {
    auto c = compile(R"toml(
default = "errno(EPERM)"
[[rule]]
syscall = "write"
action = "errno(EBADF)"
if = "arg0 == 5"
[[rule]]
syscall = "write"
action = "allow"
[[rule]]
syscall = "write"
action = "kill"
[[rule]]
syscall = "read"
action = "allow"
if = "arg0 < 0"
)toml");
    EXPECT_EQ(c.run("write", {5}), SECCOMP_RET_ERRNO | EBADF);
    EXPECT_EQ(c.run("write", {1}), kAllow);
    EXPECT_EQ(c.run("read", {0}), kEperm);
    ASSERT_EQ(c.c.warnings.size(), 2u);
    EXPECT_NE(c.c.warnings[0].find("test.toml:10:1: the rule for 'write' never applies: the rule at test.toml:7:1"),
              std::string::npos)
        << c.c.warnings[0];
    EXPECT_NE(c.c.warnings[1].find("'arg0 < 0' can never be true for read"), std::string::npos) << c.c.warnings[1];
}

TEST(SeccompCompiler, LongRuleChainsUseTrampolines) {
    // 200 conditional rules on one syscall: the chain is longer than a conditional jump
    // can reach (255), which the assembler must route through `ja`.
    std::string toml = "default = \"errno(EPERM)\"\nallow = [\"read\", \"write\", \"close\"]\n";
    for (int i = 0; i < 200; ++i)
        toml += "[[rule]]\nsyscall = \"ioctl\"\naction = \"errno(" + std::to_string(i + 1) + ")\"\nif = \"arg2 == " +
                std::to_string(i * 0x100000001ull) + "\"\n";
    auto c = compile(toml);
    EXPECT_GT(c.c.program.size(), 256u);
    for (int i = 0; i < 200; i += 13)
        EXPECT_EQ(c.run("ioctl", {0, 0, i * 0x100000001ull}), SECCOMP_RET_ERRNO | static_cast<uint32_t>(i + 1));
    EXPECT_EQ(c.run("ioctl", {0, 0, 0x100000000ull}), kEperm);
    EXPECT_EQ(c.run("close"), kAllow);
}

TEST(SeccompCompiler, BadInputIsRefusedWithItsPlace) {
    auto message = [](const std::string& toml) {
        try {
            compile(toml);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(message("allow = [\"no_such_call\"]"), "test.toml:1:9: unknown system call 'no_such_call' on x86_64");
    EXPECT_EQ(message("[[rule]]\nsyscall = \"read\"\nif = \"arg7 == 1\""),
              "test.toml:3:6: in 'arg7 == 1': column 1: argument index 7 out of range (a system call has arg0 .. arg5)");
    EXPECT_EQ(message("default = \"explode\""),
              "test.toml:1:11: unknown action 'explode' (allow, errno(N|NAME), kill-process, kill-thread, trap, log, "
              "trace(N), notify)");
    EXPECT_EQ(message("default = \"errno(ENOTREAL)\""),
              "test.toml:1:11: 'errno(ENOTREAL)': expected an errno number or name (EPERM)");
    EXPECT_EQ(message("abi = [\"arm\"]"), "test.toml:1:7: unknown ABI 'arm' (x86_64, x32, i386)");
    EXPECT_EQ(message("colour = 1"),
              "test.toml:1:10: unknown key 'colour' in a seccomp policy (extends, description, filter, default, abi, allow, rule, supervise, open)");
    EXPECT_EQ(message("[[rule]]\naction = \"allow\""), "test.toml:1:1: a rule needs 'syscall'");
}

TEST(SeccompProfiles, BuiltInsCompileWithoutWarnings) {
    for (const char* name : {"default", "strict", "egress-proxy"}) {
        auto p = seccomp_profile::load(name);
        auto c = filter::compile(p);
        EXPECT_TRUE(c.warnings.empty()) << name << ": " << c.warnings.front();
        EXPECT_LT(c.program.size(), 400u) << name;
    }
    EXPECT_EQ(seccomp_profile::load("none").mode, seccomp::Mode::None);
}

TEST(SeccompProfiles, DefaultDecidesTheDocumentedCalls) {
    Compiled c{filter::compile(seccomp_profile::load("default"))};
    EXPECT_EQ(c.run("read"), kAllow);
    EXPECT_EQ(c.run("execve"), kAllow);
    for (const char* denied : {"keyctl", "add_key", "request_key", "bpf", "userfaultfd", "perf_event_open",
                               "kexec_load", "open_by_handle_at", "mount", "umount2", "fsopen", "pivot_root",
                               "setns", "io_uring_setup", "ptrace", "init_module", "reboot"})
        EXPECT_EQ(c.run(denied), kEperm) << denied;
    EXPECT_EQ(c.run("clone3"), SECCOMP_RET_ERRNO | ENOSYS);
    EXPECT_EQ(c.run("clone", {SIGCHLD}), kAllow);
    EXPECT_EQ(c.run("clone", {CLONE_VM | CLONE_THREAD | CLONE_SIGHAND}), kAllow);
    EXPECT_EQ(c.run("clone", {CLONE_NEWUSER | SIGCHLD}), kEperm);
    EXPECT_EQ(c.run("clone", {0x100000000ull | CLONE_NEWNET}), kEperm);
    EXPECT_EQ(c.run("unshare", {CLONE_FILES}), kAllow);
    EXPECT_EQ(c.run("unshare", {CLONE_NEWNS}), kEperm);
    EXPECT_EQ(c.run("ioctl", {1, TIOCSTI}), kEperm);
    EXPECT_EQ(c.run("ioctl", {1, TIOCLINUX}), kEperm);
    EXPECT_EQ(c.run("ioctl", {1, TIOCGWINSZ}), kAllow);
    EXPECT_EQ(c.run("personality", {0xffffffff}), kAllow);
    EXPECT_EQ(c.run("personality", {0x0400000 /* READ_IMPLIES_EXEC */}), kEperm);
}

// The egress proxy parses what the sandbox sends in the host's network: a flaw there must
// not run code, start a process, leave a namespace or open a socket of another family.
TEST(SeccompProfiles, TheEgressProxysFilterHoldsItToRelayingAndResolving) {
    Compiled c{filter::compile(seccomp_profile::load("egress-proxy"))};
    constexpr uint64_t AT_FDCWD_U = static_cast<uint64_t>(static_cast<int64_t>(AT_FDCWD));
    for (const char* ok : {"read", "write", "splice", "accept4", "connect", "recvfrom", "sendto", "futex", "rt_sigpending"})
        EXPECT_EQ(c.run(ok), kAllow) << ok;
    EXPECT_EQ(c.run("clone", {CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM}), kAllow);
    EXPECT_EQ(c.run("clone", {SIGCHLD}), kEperm) << "no process";
    EXPECT_EQ(c.run("clone3"), SECCOMP_RET_ERRNO | ENOSYS);
    for (const char* denied : {"execve", "execveat", "fork", "vfork", "ptrace", "setns", "unshare", "mount", "kill",
                               "bpf", "io_uring_setup", "socketpair", "memfd_create", "process_vm_writev"})
        EXPECT_EQ(c.run(denied), kEperm) << denied;
    EXPECT_EQ(c.run("socket", {AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0}), kAllow);
    EXPECT_EQ(c.run("socket", {AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 17}), kAllow);
    EXPECT_EQ(c.run("socket", {AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */}), kAllow);
    EXPECT_EQ(c.run("socket", {AF_NETLINK, SOCK_RAW, 4 /* NETLINK_SOCK_DIAG */}), kEperm);
    EXPECT_EQ(c.run("socket", {AF_INET, SOCK_STREAM, 262 /* IPPROTO_MPTCP */}), kEperm) << "past Landlock's TCP rules";
    EXPECT_EQ(c.run("socket", {AF_INET, SOCK_STREAM, 132 /* IPPROTO_SCTP */}), kEperm);
    EXPECT_EQ(c.run("socket", {AF_INET, SOCK_DGRAM, 1 /* IPPROTO_ICMP */}), kEperm);
    EXPECT_EQ(c.run("socket", {AF_INET, SOCK_RAW, 0}), kEperm);
    EXPECT_EQ(c.run("socket", {AF_UNIX, SOCK_STREAM}), kEperm);
    EXPECT_EQ(c.run("socket", {AF_PACKET, SOCK_RAW}), kEperm);
    EXPECT_EQ(c.run("openat", {AT_FDCWD_U, 0, O_RDONLY | O_CLOEXEC}), kAllow);
    EXPECT_EQ(c.run("openat", {AT_FDCWD_U, 0, O_WRONLY}), kEperm) << "no file written, Landlock or not";
    EXPECT_EQ(c.run("openat", {AT_FDCWD_U, 0, O_RDONLY | O_CREAT}), kEperm);
    EXPECT_EQ(c.run("openat", {AT_FDCWD_U, 0, O_RDONLY | O_TRUNC}), kEperm);
    EXPECT_EQ(c.run("bind", {3, 0, 12}), kAllow);
    EXPECT_EQ(c.run("bind", {3, 0, 16 /* a sockaddr_in */}), kEperm);
    EXPECT_EQ(c.run("setsockopt", {3, SOL_SOCKET, SO_RCVTIMEO}), kAllow);
    EXPECT_EQ(c.run("setsockopt", {3, 6, 31 /* TCP_ULP */}), kEperm);
    EXPECT_EQ(c.run("setsockopt", {3, SOL_SOCKET, SO_ATTACH_FILTER}), kEperm);
    EXPECT_EQ(c.run("mmap", {0, 4096, PROT_READ | PROT_WRITE}), kAllow);
    EXPECT_EQ(c.run("mmap", {0, 4096, PROT_READ | PROT_EXEC}), kEperm) << "no memory that executes";
    EXPECT_EQ(c.run("mprotect", {0, 4096, PROT_READ | PROT_EXEC}), kEperm);
    EXPECT_EQ(c.run("ioctl", {3, FIONREAD}), kAllow);
    EXPECT_EQ(c.run("ioctl", {3, TIOCSTI}), kEperm);
    EXPECT_EQ(c.raw(AUDIT_ARCH_I386, 11), kKill) << "other architectures are killed";
}

// As the proxy applies it: tgkill only into its own thread group, whatever Landlock gives.
TEST(SeccompProfiles, TheEgressProxySignalsOnlyItself) {
    const SelfPolicy s = run::egress_confinement({443}, 4242);
    Compiled c{filter::compile(s.seccomp)};
    EXPECT_EQ(c.run("tgkill", {4242, 4243, SIGABRT}), kAllow);
    EXPECT_EQ(c.run("tgkill", {1, 1, SIGKILL}), kEperm) << "another process";
    EXPECT_EQ(c.run("tgkill", {4241, 4241, SIGKILL}), kEperm);
    EXPECT_EQ(c.run("read"), kAllow) << "the rest of the profile holds";
    EXPECT_EQ(c.run("execve"), kEperm);
    EXPECT_EQ(s.landlock.connect_ports, (std::vector<uint16_t>{53, 443}));
    EXPECT_TRUE(s.landlock.scope_signal && s.landlock.best_effort);
}

TEST(SeccompProfiles, CallsDecidedByNumberNeverReadArguments) {
    // The kernel's action cache runs the filter once per syscall number with unknown
    // arguments; a syscall whose path reads none is then allowed without running it.
    auto p = seccomp_profile::load("default");
    auto c = filter::compile(p);
    size_t by_number = 0;
    for (const auto& d : c.decisions) {
        SeccompInput in;
        in.arch = AUDIT_ARCH_X86_64;
        in.nr = d.nr;
        auto r = evaluate(c.program, in, /*args_known=*/false);
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.reads_args, !d.by_number) << d.name;
        if (d.by_number) {
            ++by_number;
            EXPECT_EQ(r.action, filter::ret_value(d.action)) << d.name;
        }
    }
    EXPECT_GT(by_number, 250u);
    // And numbers no rule names.
    for (uint32_t nr = 0; nr < 600; ++nr) {
        SeccompInput in;
        in.arch = AUDIT_ARCH_X86_64;
        in.nr = nr;
        bool named = std::any_of(c.decisions.begin(), c.decisions.end(), [&](const auto& d) { return d.nr == nr; });
        if (!named) {
            EXPECT_FALSE(evaluate(c.program, in, false).reads_args) << nr;
        }
    }
}

TEST(SeccompProfiles, ArgumentDependentCallsTakeShortPaths) {
    auto c = filter::compile(seccomp_profile::load("default"));
    for (const char* name : {"ioctl", "clone", "personality", "unshare"}) {
        SeccompInput in;
        in.arch = AUDIT_ARCH_X86_64;
        in.nr = *filter::syscall_number(Abi::X86_64, name);
        auto r = evaluate(c.program, in);
        // arch load + check, nr load, at most three point-dispatch jumps, the condition.
        EXPECT_LE(r.steps, 16u) << name;
    }
}

}  // namespace
}  // namespace caisson
