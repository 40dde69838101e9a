// Landlock's ABI up to version 7, defined here because Debian 12's kernel headers (6.1)
// stop at version 2. Values from include/uapi/linux/landlock.h.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace caisson::kernel::landlock {

struct RulesetAttr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;  // ABI 4
    uint64_t scoped;              // ABI 6
};

struct PathBeneathAttr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct NetPortAttr {
    uint64_t allowed_access;
    uint64_t port;
};

inline constexpr uint32_t kCreateRulesetVersion = 1u << 0;
inline constexpr int kRulePathBeneath = 1;
inline constexpr int kRuleNetPort = 2;

// Filesystem rights, and the ABI that introduced each.
inline constexpr uint64_t kExecute = 1ull << 0;
inline constexpr uint64_t kWriteFile = 1ull << 1;
inline constexpr uint64_t kReadFile = 1ull << 2;
inline constexpr uint64_t kReadDir = 1ull << 3;
inline constexpr uint64_t kRemoveDir = 1ull << 4;
inline constexpr uint64_t kRemoveFile = 1ull << 5;
inline constexpr uint64_t kMakeChar = 1ull << 6;
inline constexpr uint64_t kMakeDir = 1ull << 7;
inline constexpr uint64_t kMakeReg = 1ull << 8;
inline constexpr uint64_t kMakeSock = 1ull << 9;
inline constexpr uint64_t kMakeFifo = 1ull << 10;
inline constexpr uint64_t kMakeBlock = 1ull << 11;
inline constexpr uint64_t kMakeSym = 1ull << 12;
inline constexpr uint64_t kRefer = 1ull << 13;     // ABI 2
inline constexpr uint64_t kTruncate = 1ull << 14;  // ABI 3
inline constexpr uint64_t kIoctlDev = 1ull << 15;  // ABI 5

inline constexpr uint64_t kFsAbi1 = (1ull << 13) - 1;
// The rights that apply to a file (not a directory) in a path-beneath rule.
inline constexpr uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;

// Network rights (ABI 4) and scopes (ABI 6).
inline constexpr uint64_t kBindTcp = 1ull << 0;
inline constexpr uint64_t kConnectTcp = 1ull << 1;
inline constexpr uint64_t kScopeAbstractUnix = 1ull << 0;
inline constexpr uint64_t kScopeSignal = 1ull << 1;

inline long create_ruleset(const RulesetAttr* attr, size_t size, uint32_t flags) {
    return ::syscall(SYS_landlock_create_ruleset, attr, size, flags);
}
inline long add_rule(int ruleset, int type, const void* attr) {
    return ::syscall(SYS_landlock_add_rule, ruleset, type, attr, 0);
}
inline long restrict_self(int ruleset) { return ::syscall(SYS_landlock_restrict_self, ruleset, 0); }

}  // namespace caisson::kernel::landlock
