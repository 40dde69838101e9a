// Syscall names and numbers per ABI, from libseccomp's tables (no hand-written table).
#pragma once

#include <caisson/seccomp.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace caisson::filter {

inline constexpr uint32_t kX32SyscallBit = 0x40000000;

uint32_t audit_arch(seccomp::Abi);
// x32 numbers include kX32SyscallBit, as the kernel sees them.
std::optional<uint32_t> syscall_number(seccomp::Abi, std::string_view name);
std::string syscall_name(seccomp::Abi, uint32_t nr);
std::optional<seccomp::Abi> abi_from_name(std::string_view);

// Whether the kernel declares argument `index` of `syscall` as a 32-bit int on 64-bit
// ABIs (SYSCALL_DEFINE with int or unsigned int): the high half of the register is then
// garbage that the kernel ignores, so a rule must compare the low half only.
bool is_int_argument(std::string_view syscall, unsigned index);

}  // namespace caisson::filter
