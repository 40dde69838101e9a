// FNV-1a, 64 bits: a cheap digest for telling contents apart (the VM's initramfs cache key).
// Not a defence against a chosen collision: where one matters, compare the values themselves
// (the VM's policy is compared whole).
#pragma once

#include <cstdint>
#include <string_view>

namespace caisson::run {

inline constexpr uint64_t kFnv1aOffset = 14695981039346656037ull;

// `h` continues an earlier digest, so that several pieces make one.
inline uint64_t fnv1a(std::string_view s, uint64_t h = kFnv1aOffset) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

}  // namespace caisson::run
