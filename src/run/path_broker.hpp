// The supervisor's side of `[open]` rules. For an open (or a link, rename, symlink, mkdir,
// mknod, unlink or truncate: a call that changes what a name reaches) the policy's rules let through, it
// copies the path (and openat2's open_how) out of the caller's memory once, checks that the
// notification is still valid, hands the copy and the caller's directory to the opener
// inside the sandbox (run/opener), and answers with what it did: the descriptor installed in
// the caller (SECCOMP_IOCTL_NOTIF_ADDFD with FLAG_SEND), the result of the call the opener
// made, or an errno. It never answers CONTINUE: the program could rewrite its path between
// the check and the use.
#pragma once

#include "kernel/fd.hpp"

#include <caisson/seccomp.hpp>

#include <linux/seccomp.h>

#include <string>
#include <string_view>

namespace caisson::run {

class PathBroker {
public:
    PathBroker(kernel::Fd opener, const seccomp::OpenRules& rules);

    struct Decision {
        bool kill = false;      // a kill-process rule: the caller kills the sandbox
        std::string path;       // the real path decided on, else the path as the program gave it
        std::string decision;   // allow, errno(EACCES), kill-process, or failed(ENOENT) before any rule
        std::string rule;       // the deciding rule's place, "default", or empty
    };

    static bool handles(std::string_view syscall);

    // Decides and answers notification `n` of an x86_64 call of supervision::path_calls().
    Decision handle(int listener, const seccomp_notif& n, std::string_view syscall);

private:
    kernel::Fd opener_;
    const seccomp::OpenRules& rules_;
    uint64_t seq_ = 0;
};

}  // namespace caisson::run
