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

}  // namespace caisson::mech
