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

// How many bits of argument `index` of `syscall` the kernel reads on 64-bit ABIs: 16 for
// umode_t, 32 for int and unsigned int, 64 for longs and pointers (from the kernel's
// SYSCALL_DEFINE lines), 0 when this table does not know the call. Above those bits the
// register is garbage the kernel ignores, so a rule must compare only the bits it reads.
int argument_bits(std::string_view syscall, unsigned index);

}  // namespace caisson::filter
