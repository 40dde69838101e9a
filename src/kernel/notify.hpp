// Answers to seccomp user notifications, shared by the supervisor's monitor and its path
// broker. Each returns what the ioctl returns (ENOENT: the caller died or was interrupted).
#pragma once

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>

namespace caisson::kernel {

// Lets the call run as the program made it (only for decisions that read no memory).
inline int notify_continue(int listener, uint64_t id) {
    seccomp_notif_resp resp{};
    resp.id = id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    return ::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

inline int notify_error(int listener, uint64_t id, int error) {
    seccomp_notif_resp resp{};
    resp.id = id;
    resp.error = -error;
    return ::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

// Whether notification `id` still waits: its caller is alive and is the same process, so
// what was read of it (memory, /proc) was read of the right one.
inline bool notify_id_valid(int listener, uint64_t id) { return ::ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0; }

// Installs `fd` in the caller and answers the call with its number in one step (Linux 5.14).
inline int notify_addfd_send(int listener, uint64_t id, int fd, bool cloexec) {
    seccomp_notif_addfd a{};
    a.id = id;
    a.flags = SECCOMP_ADDFD_FLAG_SEND;
    a.srcfd = static_cast<uint32_t>(fd);
    a.newfd_flags = cloexec ? O_CLOEXEC : 0;
    return ::ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
}

}  // namespace caisson::kernel
