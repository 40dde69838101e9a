// Descriptors across a unix socket (SCM_RIGHTS) with a payload: the one place for the cmsg
// arithmetic. Allocation-free, so a child may use it between clone and exec.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace caisson::mech {

inline constexpr size_t kMaxPassedFds = 4;

// One message of `size` bytes carrying `nfds` (<= kMaxPassedFds) descriptors. EINTR is retried;
// false with errno set (E2BIG for too many descriptors) when the message did not go whole.
bool send_with_fds(int sock, const void* data, size_t size, const int* fds = nullptr, size_t nfds = 0);

// One message into `data` (up to `size` bytes). The descriptors arrive close-on-exec: up to
// *nfds land in `fds` and *nfds becomes their count; any more are closed, never kept. Returns
// the bytes read, 0 at the end of the stream, -1 with errno (EPROTO when the message or its
// descriptors were cut short).
ssize_t recv_with_fds(int sock, void* data, size_t size, int* fds = nullptr, size_t* nfds = nullptr);

}  // namespace caisson::mech
