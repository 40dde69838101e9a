#include "filter/syscall_table.hpp"

#include <linux/audit.h>
#include <seccomp.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace caisson::filter {
namespace {

uint32_t scmp_arch(seccomp::Abi abi) {
    switch (abi) {
    case seccomp::Abi::X86_64: return SCMP_ARCH_X86_64;
    case seccomp::Abi::X32: return SCMP_ARCH_X32;
    case seccomp::Abi::I386: return SCMP_ARCH_X86;
    }
    return 0;
}

struct ArgBits {
    std::string_view syscall;
    std::array<uint8_t, 6> bits;  // per argument; 0 past the last
};

// From the kernel's SYSCALL_DEFINE lines (x86_64): int and unsigned int are 32 bits,
// umode_t 16, size_t, long, pointers and loff_t 64.
constexpr ArgBits kArgBits[] = {
    {"read", {32, 64, 64}},
    {"write", {32, 64, 64}},
    {"pread64", {32, 64, 64, 64}},
    {"pwrite64", {32, 64, 64, 64}},
    {"readv", {64, 64, 64}},
    {"writev", {64, 64, 64}},
    {"open", {64, 32, 16}},
    {"openat", {32, 64, 32, 16}},
    {"openat2", {32, 64, 64, 64}},
    {"creat", {64, 16}},
    {"close", {32}},
    {"close_range", {32, 32, 32}},
    {"dup", {32}},
    {"dup2", {32, 32}},
    {"dup3", {32, 32, 32}},
    {"lseek", {32, 64, 32}},
    {"ioctl", {32, 32, 64}},
    {"fcntl", {32, 32, 64}},
    {"mmap", {64, 64, 64, 64, 64, 64}},
    {"mprotect", {64, 64, 64}},
    {"munmap", {64, 64}},
    {"madvise", {64, 64, 32}},
    {"mremap", {64, 64, 64, 64, 64}},
    {"brk", {64}},
    {"msync", {64, 64, 32}},
    {"mlock", {64, 64}},
    {"memfd_create", {64, 32}},
    {"chmod", {64, 16}},
    {"fchmod", {32, 16}},
    {"fchmodat", {32, 64, 16}},
    {"mkdir", {64, 16}},
    {"mkdirat", {32, 64, 16}},
    {"mknod", {64, 16, 32}},
    {"mknodat", {32, 64, 16, 32}},
    {"umask", {32}},
    {"chown", {64, 32, 32}},
    {"fchown", {32, 32, 32}},
    {"lchown", {64, 32, 32}},
    {"fchownat", {32, 64, 32, 32, 32}},
    {"setuid", {32}},
    {"setgid", {32}},
    {"setreuid", {32, 32}},
    {"setregid", {32, 32}},
    {"setresuid", {32, 32, 32}},
    {"setresgid", {32, 32, 32}},
    {"setfsuid", {32}},
    {"setfsgid", {32}},
    {"socket", {32, 32, 32}},
    {"socketpair", {32, 32, 32, 64}},
    {"bind", {32, 64, 32}},
    {"connect", {32, 64, 32}},
    {"listen", {32, 32}},
    {"accept", {32, 64, 64}},
    {"accept4", {32, 64, 64, 32}},
    {"sendto", {32, 64, 64, 32, 64, 32}},
    {"recvfrom", {32, 64, 64, 32, 64, 64}},
    {"sendmsg", {32, 64, 32}},
    {"recvmsg", {32, 64, 32}},
    {"sendmmsg", {32, 64, 32, 32}},
    {"recvmmsg", {32, 64, 32, 32, 64}},
    {"shutdown", {32, 32}},
    {"setsockopt", {32, 32, 32, 64, 32}},
    {"getsockopt", {32, 32, 32, 64, 64}},
    {"clone", {64, 64, 64, 64, 64}},
    {"clone3", {64, 64}},
    {"unshare", {64}},
    {"setns", {32, 32}},
    {"execve", {64, 64, 64}},
    {"execveat", {32, 64, 64, 64, 32}},
    {"kill", {32, 32}},
    {"tkill", {32, 32}},
    {"tgkill", {32, 32, 32}},
    {"pidfd_open", {32, 32}},
    {"pidfd_send_signal", {32, 32, 64, 32}},
    {"prctl", {32, 64, 64, 64, 64}},
    {"personality", {32}},
    {"arch_prctl", {32, 64}},
    {"ptrace", {64, 64, 64, 64}},
    {"bpf", {32, 64, 32}},
    {"keyctl", {32, 64, 64, 64, 64}},
    {"seccomp", {32, 32, 64}},
    {"perf_event_open", {64, 32, 32, 32, 64}},
    {"getrandom", {64, 64, 32}},
    {"futex", {64, 32, 32, 64, 64, 32}},
    {"wait4", {32, 64, 32, 64}},
    {"waitid", {32, 32, 64, 32, 64}},
    {"getppid", {}},
    {"getpid", {}},
    {"exit", {32}},
    {"exit_group", {32}},
};

}  // namespace

uint32_t audit_arch(seccomp::Abi abi) {
    return abi == seccomp::Abi::I386 ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
}

std::optional<uint32_t> syscall_number(seccomp::Abi abi, std::string_view name) {
    std::string n(name);
    int nr = seccomp_syscall_resolve_name_arch(scmp_arch(abi), n.c_str());
    // Negative numbers are libseccomp's placeholders for calls this ABI does not have.
    if (nr < 0) return std::nullopt;
    return static_cast<uint32_t>(nr);
}

std::string syscall_name(seccomp::Abi abi, uint32_t nr) {
    std::unique_ptr<char, void (*)(void*)> s(seccomp_syscall_resolve_num_arch(scmp_arch(abi), static_cast<int>(nr)),
                                             std::free);
    return s ? std::string(s.get()) : "syscall_" + std::to_string(nr);
}

std::optional<seccomp::Abi> abi_from_name(std::string_view s) {
    if (s == "x86_64") return seccomp::Abi::X86_64;
    if (s == "x32") return seccomp::Abi::X32;
    if (s == "i386" || s == "x86") return seccomp::Abi::I386;
    return std::nullopt;
}

int argument_bits(std::string_view syscall, unsigned index) {
    if (index >= 6) return 0;
    for (const auto& e : kArgBits)
        if (e.syscall == syscall) return e.bits[index] ? e.bits[index] : 64;
    return 0;
}

}  // namespace caisson::filter

namespace caisson::seccomp {

// The model's (include/caisson/seccomp.hpp): here, in the lowest layer that names ABIs.
const char* abi_name(Abi abi) {
    switch (abi) {
    case Abi::X86_64: return "x86_64";
    case Abi::X32: return "x32";
    case Abi::I386: return "i386";
    }
    return "?";
}

}  // namespace caisson::seccomp
