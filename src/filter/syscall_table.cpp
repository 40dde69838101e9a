#include "filter/syscall_table.hpp"

#include <linux/audit.h>
#include <seccomp.h>

#include <array>
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

struct IntArgs {
    std::string_view syscall;
    std::array<bool, 6> is_int;
};

// From the kernel's SYSCALL_DEFINE lines: the arguments declared int or unsigned int,
// for the system calls policies test on arguments.
constexpr IntArgs kIntArgs[] = {
    {"ioctl", {true, true, false, false, false, false}},
    {"fcntl", {true, true, false, false, false, false}},
    {"socket", {true, true, true, false, false, false}},
    {"socketpair", {true, true, true, false, false, false}},
    {"setsockopt", {true, true, true, false, true, false}},
    {"getsockopt", {true, true, true, false, false, false}},
    {"personality", {true, false, false, false, false, false}},
    {"setns", {true, true, false, false, false, false}},
    {"kill", {true, true, false, false, false, false}},
    {"tkill", {true, true, false, false, false, false}},
    {"tgkill", {true, true, true, false, false, false}},
    {"prctl", {true, false, false, false, false, false}},
    {"open", {false, true, false, false, false, false}},
    {"openat", {true, false, true, false, false, false}},
    {"bpf", {true, false, true, false, false, false}},
    {"keyctl", {true, false, false, false, false, false}},
    {"seccomp", {true, true, false, false, false, false}},
    {"perf_event_open", {false, true, true, true, false, false}},
    {"close", {true, false, false, false, false, false}},
    {"dup2", {true, true, false, false, false, false}},
    {"dup3", {true, true, true, false, false, false}},
    {"getppid", {false, false, false, false, false, false}},
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

bool is_int_argument(std::string_view syscall, unsigned index) {
    if (index >= 6) return false;
    for (const auto& e : kIntArgs)
        if (e.syscall == syscall) return e.is_int[index];
    return false;
}

}  // namespace caisson::filter
