// The values a host and a sandboxed plug-in exchange, and how they travel: integers,
// floating point, booleans, strings, byte buffers and file descriptors, each tagged, in one
// length-prefixed message per call or reply over a unix stream socket (descriptors ride with
// it as SCM_RIGHTS). The other side is hostile: every read is bounded and checked, and a
// message that does not parse is an error that names what was wrong, never a crash.
//
// A function's signature is a string of tags ("i:is" for int64_t(int64_t, std::string)),
// sent with each call, so that a host and a plug-in that disagree fail with a clear error.
#pragma once

#include <caisson/error.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace caisson::wire {

// A byte buffer, as opposed to text.
struct Bytes {
    std::vector<uint8_t> data;
};

// A descriptor to pass. Sent: the sender keeps its own. Received: the receiver owns it.
struct Fd {
    int fd = -1;
};

inline constexpr uint32_t kMaxMessage = 64u << 20;  // a call's arguments or a reply, at most
inline constexpr size_t kMaxFds = 16;               // descriptors in one message, at most

enum Tag : char { Int = 'i', Uint = 'u', Double = 'd', Bool = 'b', String = 's', Buffer = 'y', Descriptor = 'f' };

template <class T>
constexpr char tag_of() {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, bool>) return Bool;
    else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) return Int;
    else if constexpr (std::is_integral_v<U>) return Uint;
    else if constexpr (std::is_floating_point_v<U>) return Double;
    else if constexpr (std::is_same_v<U, std::string>) return String;
    else if constexpr (std::is_same_v<U, Bytes>) return Buffer;
    else if constexpr (std::is_same_v<U, Fd>) return Descriptor;
    else static_assert(sizeof(U) == 0, "caisson::wire: unsupported type (integers, floating point, bool, "
                                       "std::string, wire::Bytes, wire::Fd)");
}

// "R:ARGS", one tag each; 'v' for a void result.
template <class R, class... A>
std::string signature() {
    std::string s;
    if constexpr (std::is_void_v<R>) s += 'v';
    else s += tag_of<R>();
    s += ':';
    ((s += tag_of<A>()), ...);
    return s;
}

const char* tag_name(char tag);

// One message being built.
class Writer {
public:
    template <class T>
    void put(const T& v) {
        constexpr char t = tag_of<T>();
        buf_.push_back(t);
        if constexpr (t == Int) raw(static_cast<int64_t>(v));
        else if constexpr (t == Uint) raw(static_cast<uint64_t>(v));
        else if constexpr (t == Bool) buf_.push_back(v ? 1 : 0);
        else if constexpr (t == Double) raw(static_cast<double>(v));
        else if constexpr (t == String) blob(v.data(), v.size());
        else if constexpr (t == Buffer) blob(v.data.data(), v.data.size());
        else if constexpr (t == Descriptor) {
            if (fds_.size() >= kMaxFds) throw Error::usage("wire: more than 16 descriptors in one message");
            raw(static_cast<uint32_t>(fds_.size()));
            fds_.push_back(v.fd);
        }
    }
    const std::string& bytes() const { return buf_; }
    const std::vector<int>& fds() const { return fds_; }
    // Empties the message and keeps its memory: a megabyte buffer is not faulted in again.
    void clear() {
        buf_.clear();
        fds_.clear();
    }

private:
    template <class N>
    void raw(N n) {
        char b[sizeof(N)];
        std::memcpy(b, &n, sizeof(N));
        buf_.append(b, sizeof(N));
    }
    void blob(const void* p, size_t n) {
        if (n > kMaxMessage) throw Error::usage("wire: a string or buffer over 64 MiB");
        raw(static_cast<uint32_t>(n));
        buf_.append(static_cast<const char*>(p), n);
    }
    std::string buf_;
    std::vector<int> fds_;
};

// One message received. Takes ownership of its descriptors: those not taken by get<Fd>()
// are closed with it.
class Reader {
public:
    Reader(std::string bytes, std::vector<int> fds) : buf_(std::move(bytes)), fds_(std::move(fds)) {}
    ~Reader();
    Reader(Reader&& o) noexcept : buf_(std::move(o.buf_)), pos_(o.pos_), fds_(std::move(o.fds_)) { o.fds_.clear(); }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    Reader& operator=(Reader&&) = delete;

    // The next value, which must be a T; `what` names it in the error ("argument 2").
    template <class T>
    T get(const char* what) {
        constexpr char t = tag_of<T>();
        expect(t, what);
        if constexpr (t == Int) return static_cast<T>(raw<int64_t>(what));
        else if constexpr (t == Uint) return static_cast<T>(raw<uint64_t>(what));
        else if constexpr (t == Bool) return raw<uint8_t>(what) != 0;
        else if constexpr (t == Double) return static_cast<T>(raw<double>(what));
        else if constexpr (t == String) {
            auto [p, n] = blob(what);
            return std::string(p, n);
        } else if constexpr (t == Buffer) {
            auto [p, n] = blob(what);
            return Bytes{std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(p), reinterpret_cast<const uint8_t*>(p) + n)};
        } else if constexpr (t == Descriptor) return Fd{take_fd(raw<uint32_t>(what), what)};
    }
    bool at_end() const { return pos_ == buf_.size(); }
    // Gives the message's memory back for the next message (the values read stay valid).
    std::string take_bytes() {
        pos_ = 0;
        return std::move(buf_);
    }
    // Throws unless every byte was read: trailing data means the two sides disagree.
    void finish(const char* what) const;

private:
    void expect(char tag, const char* what);
    template <class N>
    N raw(const char* what) {
        need(sizeof(N), what);
        N n;
        std::memcpy(&n, buf_.data() + pos_, sizeof(N));
        pos_ += sizeof(N);
        return n;
    }
    std::pair<const char*, size_t> blob(const char* what);
    void need(size_t n, const char* what) const;
    int take_fd(uint32_t index, const char* what);

    std::string buf_;
    size_t pos_ = 0;
    std::vector<int> fds_;
};

// When a whole message must have gone or come: a peer that trickles a byte at a time keeps
// every single read short of any per-read timeout, so the time is the message's, not a read's.
using Deadline = std::optional<std::chrono::steady_clock::time_point>;

// Sends one message (its bytes after an 8-byte header, its descriptors with the header).
// Throws caisson::Error naming `what` (EPIPE when the other side is gone, EAGAIN when the
// deadline passed first).
void send(int sock, const Writer& w, const char* what, Deadline deadline = {});

// Receives one message, of at most `limit` bytes. Returns false at a clean end of stream
// (the other side closed between messages); throws on anything malformed or cut short, and
// with EAGAIN when the deadline passes first.
// With SO_PASSCRED on `sock`, `sender` gets the sender's pid in this pid namespace; with
// SO_PASSPIDFD (Linux 6.5), `sender_pidfd` a pidfd of the sender's (the caller owns it; -1
// when none came), which no reuse of the pid can make name another process.
bool receive(int sock, std::string& bytes, std::vector<int>& fds, const char* what, uint32_t limit = kMaxMessage,
             int* sender = nullptr, Deadline deadline = {}, int* sender_pidfd = nullptr);

}  // namespace caisson::wire
