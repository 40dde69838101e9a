// What learn mode found, as a seccomp policy: the system calls a run made and, for the calls
// whose meaning sits in one argument (socket's family, ioctl's request, prctl's option,
// fcntl's command), the values it used. Pure: text in, text out; `--merge` folds earlier
// profiles in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace caisson::learned {

// The argument learn mode records for `syscall`, if any.
std::optional<unsigned> recorded_arg(std::string_view syscall);
// Beyond this many distinct values, a call is allowed with any.
inline constexpr size_t kMaxValues = 32;

// How a path was opened (the same bits as Outcome::paths_seen).
inline constexpr unsigned kRead = 1, kWrite = 2, kCreate = 4;

struct Profile {
    std::set<std::string> allow;                          // by number
    std::map<std::string, std::set<uint64_t>> by_value;   // by the recorded argument
    std::map<std::string, unsigned> paths;                // real paths (or globs, merged in) opened
    std::set<std::string> connects, binds;                // addresses: "127.0.0.1:80", "unix:/x"
    std::set<std::string> hosts;                          // names reached by egress: "pypi.org:443"
};

// The `[open]` rules for p.paths: reads and writes apart; a file created stands for its
// directory (its name may change from run to run); many files read below one directory
// (at least three names deep, never /usr or /etc as a whole) become DIR/**.
struct PathRules {
    std::vector<std::string> read, write;
};
PathRules path_rules(const Profile& p);

// A run profile around the learned seccomp policy at `seccomp_path`: Landlock's TCP ports
// for what was connected to and bound (none: nothing), the addresses in comments.
std::string run_profile_toml(const Profile& p, const std::string& seccomp_path, const std::string& header);

// Adds one observed call. Calls learn mode lets through unrecorded are added by the caller.
void add(Profile& p, const std::string& syscall, const uint64_t args[6]);
void merge(Profile& into, const Profile& other);
// The policy text (a header comment first, each line starting with "# ").
std::string to_toml(const Profile& p, const std::string& header);
// A profile this module wrote. Throws caisson::Error naming the file.
Profile from_toml(std::string_view text, const std::string& origin);

// The clone and unshare flags that make a namespace, as a condition's expression: never
// learned, and refused while learning.
std::string namespace_flags();

}  // namespace caisson::learned
