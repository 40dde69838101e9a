// Opening a file the container's image chose, as the runtime (root, before the device cgroup
// applies): what is at the path is looked at first through O_PATH, which opens nothing, and
// opened only when it is the kind of file expected. An image's device node in place of
// /etc/passwd would otherwise be a host device opened by root (a watchdog arms on open), and a
// FIFO would hang create.
#pragma once

#include <sys/stat.h>

namespace caisson::mech {

// `path` beneath `root` (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), opened with `flags` when
// `accept` approves what is there; the object opened must be the one looked at. Returns the
// descriptor, or -1 with errno: EPERM for a refused kind, EAGAIN when it changed in between.
// Allocation-free.
int open_checked(int root, const char* path, int flags, bool (*accept)(const struct stat&));

inline bool is_regular(const struct stat& st) { return S_ISREG(st.st_mode); }

}  // namespace caisson::mech
