// The wire between caisson on the host and its init in the guest: frames over one
// virtio-serial port (one byte stream, so everything the guest says arrives in order, and
// the program's status comes after the last of its output). A frame is a type byte, a
// 32-bit little-endian length and that many bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caisson::run::vm_wire {

enum class Frame : uint8_t {
    Booted = 'B',    // guest -> host: init runs (boot time ends here)
    Request = 'R',   // host -> guest: what to run (encode_request)
    Stdin = 'I',     // host -> guest: the caller's standard input
    StdinEnd = 'i',  // host -> guest: its end
    Stdout = 'O',    // guest -> host
    Stderr = 'E',
    Result = 'X',    // guest -> host: "exit N" or "signal N", a newline, the report's JSON
    Failed = 'F',    // guest -> host: init could not run the program (the reason)
    Done = 'Q',      // host -> guest: the result arrived; power off
    Signal = 'S',    // host -> guest: a signal for the program (4 bytes, little-endian)
    StdoutClosed = 'o',  // host -> guest: the caller's stdout has no reader any more
    StderrClosed = 'e',
};

// The signals caisson passes on to the program in the guest, as `caisson run` does on the host.
inline constexpr int kForwardedSignals[] = {1 /*HUP*/, 2 /*INT*/, 3 /*QUIT*/, 10 /*USR1*/, 12 /*USR2*/, 15 /*TERM*/};

inline constexpr size_t kMaxPayload = 1u << 20;  // a request or a report; data goes in 64 KiB

std::string encode(Frame type, std::string_view payload);

// Frames out of a byte stream as it arrives in pieces.
class Reader {
public:
    void feed(const char* data, size_t n) { buf_.append(data, n); }
    // The next whole frame, if one has arrived. Throws caisson::Error for a frame longer
    // than kMaxPayload (the peer is not caisson, or is broken).
    std::optional<std::pair<Frame, std::string>> next();

private:
    std::string buf_;
    size_t at_ = 0;
};

// The request: lists of strings (the arguments of `caisson run`, the environment) and the
// working directory, as counted strings.
struct Request {
    std::vector<std::string> args, env;
    std::string cwd;
};
std::string encode_request(const Request& r);
Request decode_request(std::string_view payload);  // throws caisson::Error when malformed

}  // namespace caisson::run::vm_wire
