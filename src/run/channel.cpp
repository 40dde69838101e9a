#include "run/channel.hpp"

#include "mech/fd_passing.hpp"

#include <caisson/error.hpp>

#include <unistd.h>

#include <cerrno>

namespace caisson::run {

bool send_packet(int sock, const void* data, size_t size, const int* fds, size_t nfds) {
    return mech::send_with_fds(sock, data, size, fds, nfds);
}

int recv_packet(int sock, void* data, size_t size, int* fds, size_t* nfds) {
    ssize_t n = mech::recv_with_fds(sock, data, size, fds, nfds);
    if (n <= 0) return static_cast<int>(n);
    if (static_cast<size_t>(n) != size) {
        // A short packet is a protocol error: what came with it is not kept.
        for (size_t i = 0; fds && nfds && i < *nfds; ++i) ::close(fds[i]);
        if (nfds) *nfds = 0;
        errno = EPROTO;
        return -1;
    }
    return 1;
}

bool send_message(int sock, const Message& m, const int* fds, size_t nfds) { return send_packet(sock, &m, sizeof(m), fds, nfds); }

int recv_message(int sock, Message& m, int* fds, size_t* nfds) { return recv_packet(sock, &m, sizeof(m), fds, nfds); }

void report_failure(int sock, const Failure& f, int exit_code) {
    Message m{};
    m.type = MsgType::Failed;
    m.failure = f;
    send_message(sock, m);
    ::_exit(exit_code);
}

void throw_failure(const Failure& received) {
    // It came from a process the container may have taken over: its strings are cut at their
    // ends, its kind is one of ours, its errno a number strerror knows.
    Failure f = received;
    f.step[sizeof(f.step) - 1] = '\0';
    f.object[sizeof(f.object) - 1] = '\0';
    if (f.err < 0 || f.err > 4095) f.err = EPROTO;
    if (f.kind != ErrorKind::Exec && f.kind != ErrorKind::Usage) f.kind = ErrorKind::Setup;
    if (f.kind == ErrorKind::Exec) throw Error(ErrorKind::Exec, f.object, "", f.err == ENOENT ? 0 : f.err);
    throw Error(f.kind, f.step, f.object, f.err);
}

}  // namespace caisson::run
