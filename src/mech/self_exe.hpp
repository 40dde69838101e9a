// CVE-2019-5736: the runtime's own binary must never be writable from inside a sandbox. Two
// ways reach it: /proc/PID/exe of a runtime process in the sandbox's pid namespace (the
// waiting init, an exec helper), and a program whose interpreter is "#!/proc/self/exe",
// which the kernel resolves, at exec, to the runtime's binary and runs inside the sandbox;
// a second process there opens its /proc/PID/exe and rewrites the file once it is gone.
// Non-dumpable runtime processes close the first way only. The runtime therefore runs
// itself from a copy the sandbox cannot write: a detached read-only bind of its binary (root)
// or a sealed memfd copy (anyone else), whenever the program could write the file itself.
#pragma once

#include <sys/types.h>

namespace caisson::mech {

// True when this process's executable can no longer be written through /proc/self/exe by
// anyone: it runs from a read-only mount or from a memfd sealed against writes.
bool self_exe_is_protected();

// True when this process's executable could be written by a program with host ids
// `uid`/`gid` (as its owner, root, its group, or anyone), and it is not protected. An
// ordinary caller's program never has more than the caller: then whether the caller may write
// it (its groups and ACLs included).
bool self_exe_writable_by(uid_t uid, gid_t gid);

// True when the caller itself may write this process's executable (and it is not protected).
bool self_exe_is_safe();

// Where a re-executed binary was, in its environment (the copy has no path of its own).
inline constexpr const char* kReexecFromVar = "CAISSON_REEXEC_FROM";

// Re-executes this program, same arguments and environment (plus kReexecFromVar), from a copy no sandbox can write:
// a read-only detached bind of its own binary where the caller may make one (root), else a
// sealed memfd copy. Returns only on failure (errno set), naming nothing: the caller says.
void reexec_from_protected_copy(char** argv, char** envp);

}  // namespace caisson::mech
