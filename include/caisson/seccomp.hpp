// The seccomp policy model: plain data, no system calls. A policy is a default action, the
// ABIs it admits, and rules in order (the first rule that matches a call decides it). The
// compiler (src/filter/seccomp_compiler) turns it into classic BPF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caisson::seccomp {

enum class ActionKind : uint8_t { Allow, Errno, KillThread, KillProcess, Trap, Log, Trace, Notify };

struct Action {
    ActionKind kind = ActionKind::Allow;
    uint16_t value = 0;  // errno(N), trace(N)
    friend bool operator==(const Action&, const Action&) = default;
};

enum class Op : uint8_t { Eq, Ne, Lt, Le, Gt, Ge };

// A condition on the call's arguments. Leaves compare one argument, optionally masked,
// with a constant; `in {a, b}` is parsed into an Or of Eq leaves.
struct Expr {
    enum class Kind : uint8_t { True, Cmp, And, Or, Not } kind = Kind::True;
    // Cmp
    unsigned arg = 0;
    uint64_t mask = ~0ull;
    bool low32 = false;  // compare the low 32 bits only (the kernel reads an int)
    Op op = Op::Eq;
    uint64_t value = 0;
    // And, Or (two or more), Not (one)
    std::vector<Expr> kids;
};

struct Rule {
    std::vector<std::string> syscalls;
    Action action;
    bool conditional = false;
    Expr when;               // meaningful when conditional
    std::string when_text;   // as written, for messages
    std::string origin;      // file:line:column, for messages
};

// A call the supervisor decides with state (`[[supervise]]` in a policy): the filter hands
// these calls to caisson's supervisor (a user notification), which lets one through while
// the rule's conditions hold and answers `then` otherwise. Counts are per sandbox, over all
// its processes. The decisions depend on the call's number and on what came before, never on
// memory the sandbox could change after the check, so letting a call through is safe.
struct Supervised {
    std::vector<std::string> syscalls;
    std::optional<uint64_t> max;   // calls let through, in all (the program's own start is not one)
    std::optional<double> rate;    // calls per second, with bursts of up to that many
    std::string before;            // only until a call of this syscall has been let through
    std::string after;             // only once a call of this syscall has been let through
    Action then{ActionKind::Errno, 1 /* EPERM */};
    std::string origin;            // file:line:column, for messages and the audit
};

// Opens decided on the path they reach (`[open]` in a policy). The filter hands open,
// openat, openat2 and creat to the supervisor; a helper inside the sandbox, with the
// program's own credentials and Landlock domain, resolves the path on its own copy of it,
// follows symlinks one at a time, decides on the real path, performs the open and the
// supervisor installs the descriptor in the caller (SECCOMP_IOCTL_NOTIF_ADDFD). The program
// cannot change what is opened once it was decided: it never gets CONTINUE.
enum class PathAccess : uint8_t { Read, Write, Any };  // write: O_WRONLY, O_RDWR, O_CREAT, O_TRUNC

struct PathRule {
    std::vector<std::string> paths;  // absolute globs: `*` within a name, `**` across names
    PathAccess access = PathAccess::Any;
    Action action;                   // allow, errno(N) or kill-process
    std::string origin;
};

struct OpenRules {
    std::vector<PathRule> rules;     // first match wins
    Action otherwise{ActionKind::Errno, 13 /* EACCES */};
    std::string origin;              // where `[open]` is, empty when the policy has none
    bool enabled() const { return !origin.empty(); }
};

enum class Abi : uint8_t { X86_64, X32, I386 };

enum class Mode : uint8_t { None, Filter };

struct Policy {
    std::string name = "none";   // what --seccomp named, for the report
    Mode mode = Mode::None;
    Action default_action{ActionKind::Errno, 1 /* EPERM */};
    std::vector<Abi> abis{Abi::X86_64};
    std::vector<Rule> rules;     // first match wins
    std::vector<Supervised> supervised;  // checked before `rules`; the first listing the call decides
    OpenRules open;                      // opens, decided by path once the rules let them through
};

const char* abi_name(Abi);
std::string action_text(const Action&);

// A policy from the TOML language of profiles/seccomp/*.toml (`caisson policy check` shows
// one). Throws caisson::Error naming origin:line:column.
Policy policy_from_toml(std::string_view text, const std::string& origin = "policy.toml");

}  // namespace caisson::seccomp
