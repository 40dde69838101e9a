// Decisions on the path an open reaches (`[open]` in a seccomp policy). Pure and
// allocation-free where it decides: the helper inside the sandbox calls it between its own
// system calls, on the real path it resolved.
#pragma once

#include <caisson/seccomp.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace caisson::path_rules {

inline constexpr size_t kMaxPattern = 255;

// `*` and `?` stay within one name, `**` crosses names; a pattern ending in `/**` also
// names the directory itself ("/usr/**" matches "/usr"), and "/a/**/b" matches "/a/b".
// Linear in the path's length.
bool glob_match(std::string_view pattern, std::string_view path);

// Why a pattern is refused ("must be absolute", ...), or empty when it is good.
std::string check_pattern(std::string_view pattern);

// Whether an open with these flags writes: O_WRONLY, O_RDWR, O_CREAT or O_TRUNC.
bool open_writes(uint64_t flags);

struct Verdict {
    seccomp::Action action;
    int rule = -1;  // index into the rules, -1 for `default`
};

Verdict decide(const seccomp::OpenRules& rules, std::string_view path, bool writes);

// An open with these flags: one that both reads and writes (O_RDWR, O_RDONLY|O_TRUNC) needs
// both decisions to allow; the first refusal is the verdict.
Verdict decide_open(const seccomp::OpenRules& rules, std::string_view path, uint64_t flags);

// "allow read /usr/**, /lib/** (file:line:col)".
std::string describe(const seccomp::PathRule& r);

}  // namespace caisson::path_rules
