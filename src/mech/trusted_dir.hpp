// A directory named by a path, opened one name at a time (O_PATH | O_NOFOLLOW), following a
// link only where `trusted` says so: for a process that is root, links of root's or of its
// own user's, each looked at and read through the descriptor that was opened, so that nobody
// can swap the way between the look and the use (a review's attack run had root's report
// written into a directory of another user's choice through a link flipped between realpath
// and a check of the path's names).
#pragma once

#include "kernel/fd.hpp"

#include <string>

namespace caisson::mech {

enum class LinkTrust {
    Any,        // every link is followed (an ordinary user's own paths)
    RootsOwn,   // only links owned by uid 0 or by this process's effective uid
};

// The directory's descriptor (O_PATH); throws caisson::Error (usage) naming `what`, the path,
// and the link of another user's on the way, or the step and errno. A relative path starts
// at the current directory. At most 40 links are followed, as the kernel's own limit.
kernel::Fd open_trusted_dir(const std::string& path, LinkTrust trust, const std::string& what);

// The same for the object the whole path names (a directory, file, socket, device...), its
// last link followed under the same rule: O_PATH, to be looked at (fstat) and not opened.
kernel::Fd open_trusted_path(const std::string& path, LinkTrust trust, const std::string& what);

// LinkTrust::RootsOwn for root, Any otherwise.
LinkTrust link_trust_for_this_user();

}  // namespace caisson::mech
