// Unix sockets by path, whatever the path's length: sun_path holds 108 bytes, so a long
// path is reached through its directory's descriptor (/proc/self/fd/N/name).
#pragma once

#include "kernel/fd.hpp"

#include <string>

namespace caisson::mech {

// Throws caisson::Error naming the path.
kernel::Fd connect_unix(const std::string& path, const char* what);
kernel::Fd listen_unix(const std::string& path, const char* what);

// The uid of a connected peer (SO_PEERCRED), or -1 when the kernel does not say.
long peer_uid(int sock);

// Why the connected peer does not stand where this process does; "" when it does. In any of
// its threads: another namespace (any of the eight), another root directory, no_new_privs
// this process lacks, more seccomp filters, fewer capabilities. That is a caller confined by
// something of its own, which a sandbox made by this process would not carry. Read from the
// kernel, not from what the peer says: the peer named by its pidfd (SO_PEERPIDFD), its /proc
// entry opened, then the pidfd checked still alive, so that a pid reused meanwhile is not
// read for it. Whatever cannot be read is a reason too (fails closed), and so is a kernel
// that cannot name the peer by a pidfd (before Linux 6.5).
std::string peer_stands_elsewhere(int sock);

// Why the connected peer is not in this process's user namespace; "" when it is. What a
// client asks of a server it hands its streams to: a sandbox of this very user (whose ids map
// back to the user's) can listen where the user's server would, and it always has a user
// namespace of its own. Read as peer_stands_elsewhere reads, and failing closed as it does.
std::string peer_in_another_user_namespace(int sock);

}  // namespace caisson::mech
