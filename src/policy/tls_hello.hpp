// The server name a TLS client asks for (the SNI extension of its ClientHello, RFC 6066),
// read from the first bytes of a connection before anything is passed on. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace caisson::tls_hello {

enum class Status {
    NeedMore,  // a ClientHello so far, not yet whole
    NotTls,    // the bytes do not begin a TLS handshake
    NoName,    // a whole ClientHello without a host name
    Name,      // a whole ClientHello naming a host
    Bad,       // a TLS handshake that is malformed
};

struct Result {
    Status status = Status::NeedMore;
    std::string name;  // with Status::Name: as sent (not yet normalized)
};

// Reads the ClientHello at the start of `data` (handshake records, fragments joined, at most
// 16 KiB of handshake).
Result server_name(const uint8_t* data, size_t size);

}  // namespace caisson::tls_hello
