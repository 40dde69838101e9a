// The fast path between a plug-in's host and its worker: one shared memory area (a memfd
// both map) that carries a call, then its reply, and a sequence word both sides wait on,
// spinning briefly before they sleep on a futex. A unix-socket round trip costs 17-27 us on
// this machine, and most of it is the wake-up; a warm worker that spins for the next call
// answers in a few microseconds. Messages with descriptors or over the area's size still go
// over the socket: the area then only says "on the socket".
//
// The worker is hostile, and it can write the area at any time: the host reads the length
// once, bounds it, and copies the bytes out before it parses them.
#pragma once

#include "kernel/fd.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace caisson::plugin {

class SharedChannel {
public:
    static constexpr size_t kAreaBytes = (2u << 20) + (64u << 10);  // a 1 MiB buffer each way fits
    static constexpr uint32_t kOnSocket = 0xffffffffu;               // the message went over the socket
    static constexpr uint32_t kClose = 0xfffffffeu;                  // the host is done: the worker ends

    // The host's side: a new area (memfd). fd() goes to the worker.
    static SharedChannel create();
    // The worker's side: maps the area it was given.
    static SharedChannel attach(int fd);

    SharedChannel() = default;
    SharedChannel(SharedChannel&& o) noexcept;
    SharedChannel& operator=(SharedChannel&& o) noexcept;
    ~SharedChannel();
    explicit operator bool() const { return header_ != nullptr; }
    int fd() const { return fd_.get(); }

    // Puts a message (or kOnSocket/kClose with no bytes) into the area and rings: the
    // sequence word becomes `seq`, and a peer asleep on it is woken.
    void publish(uint32_t seq, const char* bytes, uint32_t length);
    // Waits until the sequence word differs from `from`, spinning `spin` first, or until
    // `deadline`. Returns the new value, or nothing on the deadline.
    std::optional<uint32_t> await(uint32_t from, std::chrono::nanoseconds spin,
                                  std::chrono::steady_clock::time_point deadline);
    // The message's length, read once; the caller bounds it before use.
    uint32_t length() const;
    // Copies `length` bytes out of the area (length <= kAreaBytes).
    void copy_out(std::string& into, uint32_t length) const;
    // Changes the sequence word and wakes whoever waits on it: the host's runner thread
    // does this when the worker has ended, so that a host asleep in await() looks again.
    void interrupt();

    uint32_t sequence() const;

private:
    struct Header;
    SharedChannel(kernel::Fd fd, void* map);
    kernel::Fd fd_;
    Header* header_ = nullptr;
    char* area_ = nullptr;
};

}  // namespace caisson::plugin
