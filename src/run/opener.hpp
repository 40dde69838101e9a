// The helper that performs the opens `[open]` rules decide, and every call that changes
// what a name reaches (link, rename, symlink, mkdir, mknod, unlink, truncate). It runs inside the sandbox, with
// the program's credentials, capabilities and Landlock domain but without its seccomp
// filter, and serves the supervisor over a socket pair: given a copy of the path the program
// asked for (read by the supervisor, never again from the program's memory), it walks the
// path one name at a time with O_PATH descriptors, follows symlinks itself, decides on the
// real path it reached, and opens that very object. The supervisor installs the descriptor
// in the caller (SECCOMP_IOCTL_NOTIF_ADDFD): what was decided is what is opened.
#pragma once

#include <caisson/seccomp.hpp>

#include <cstddef>
#include <cstdint>

namespace caisson::run::opener {

inline constexpr size_t kPathMax = 4096;

enum class Call : uint32_t {
    Openat,
    Openat2,
    // The calls that change what a name reaches. Their names are decided as writes (a name
    // made or removed), and a name that comes to reach an existing file may not give it
    // more than its old name had (Landlock's "refer" rule): EXDEV otherwise.
    Link,      // path (followed when flags has AT_SYMLINK_FOLLOW) -> path2
    Rename,    // path -> path2, renameat2's flags
    Symlink,   // path2 made a symlink to the text `path`
    Mkdir,     // path, mode
    Mknod,     // path, mode, dev (in `arg`)
    Unlink,    // path; flags AT_REMOVEDIR for rmdir
    Truncate,  // path (followed), length in `arg`
};

struct Request {
    uint64_t seq = 0;
    Call call = Call::Openat;
    uint32_t has_dir = 0;   // a directory descriptor comes along (SCM_RIGHTS), for `path`
    uint32_t has_dir2 = 0;  // and one for `path2`, after it
    uint64_t flags = 0;
    uint64_t mode = 0;
    uint64_t resolve = 0;   // openat2's
    uint64_t arg = 0;       // mknod's device, truncate's length
    // The caller as the sandbox sees it, for /proc/self; 0 until the opener asks.
    int32_t tgid = 0, tid = 0;
    uint32_t umask = 0;     // the caller's, when it creates (valid with tgid)
    char path[kPathMax] = {};
    char path2[kPathMax] = {};  // the second name of link, rename and symlink
};

// Done: a call other than an open was made and returned 0. Continue: an O_PATH open was
// allowed; the kernel makes it (a descriptor that opens nothing, which SECCOMP_IOCTL_NOTIF_ADDFD
// cannot install, and through which every open is decided again).
enum class Outcome : int32_t { Opened, Refused, Failed, NeedCaller, Done, Continue };

struct Reply {
    uint64_t seq = 0;
    Outcome outcome = Outcome::Failed;
    int32_t err = 0;        // Refused: the rule's errno; Failed: what the kernel said
    int32_t rule = -1;      // the deciding rule, -1 for the default
    uint32_t kill = 0;      // Refused by a kill-process rule
    uint32_t decided = 0;   // a rule (or the default) decided: `rule` holds
    char path[kPathMax] = {};  // the real path decided on, empty when resolving failed first
    char path2[kPathMax] = {}; // the second name's
};

// Whether `call` makes a name (and so takes the caller's umask).
inline bool creates(Call call) { return call == Call::Mkdir || call == Call::Mknod; }

// Serves requests on `sock` until the supervisor closes it. Call with the program's
// privileges already taken.
[[noreturn]] void serve(int sock, const seccomp::OpenRules& rules);

}  // namespace caisson::run::opener
