// The head of an HTTP/1.x request as a proxy sees it: the request line and the headers,
// to decide by the host asked for (CONNECT's authority, an absolute URI's, or Host), and
// to pass the request on in origin form with `Connection: close` (one request per decided
// connection, so a kept-alive connection cannot carry a second request to another host).
// Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caisson::http_head {

inline constexpr size_t kMaxHead = 16 * 1024;

struct Request {
    std::string method, target, version;
    std::vector<std::pair<std::string, std::string>> headers;  // names as sent
    size_t size = 0;  // bytes of the head, the blank line included
};

enum class Status { NeedMore, Bad, Ok };

// Parses the head at the start of `data` (ends at the first blank line; at most kMaxHead).
Status parse(std::string_view data, Request& out);

// The first value of header `name` (case-insensitive), if any.
std::optional<std::string> header(const Request& r, std::string_view name);

struct Authority {
    std::string host;  // as written (brackets of an IPv6 literal removed)
    uint16_t port = 0; // 0 when not written
};

// "host", "host:port", "[v6]:port". nullopt when malformed.
std::optional<Authority> parse_authority(std::string_view text);

// An absolute URI's scheme ("http"), authority and path ("/..." or "/").
struct AbsoluteUri {
    std::string scheme;
    Authority authority;
    std::string path;
};
std::optional<AbsoluteUri> parse_absolute(std::string_view target);

// The head to send upstream: the request line with `target`, the headers but the hop-by-hop
// ones a proxy consumes (Connection, Keep-Alive, Proxy-*), and `Connection: close`.
std::string forward(const Request& r, std::string_view target);

}  // namespace caisson::http_head
