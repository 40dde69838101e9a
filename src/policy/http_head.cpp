#include "policy/http_head.hpp"

#include <algorithm>
#include <cctype>

namespace caisson::http_head {
namespace {

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

Status parse(std::string_view data, Request& out) {
    const size_t end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) return data.size() >= kMaxHead ? Status::Bad : Status::NeedMore;
    if (end + 4 > kMaxHead) return Status::Bad;
    out = {};
    out.size = end + 4;
    std::string_view head = data.substr(0, end + 2);  // every line ends in CRLF
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) return Status::Bad;
    out.method = std::string(line.substr(0, sp1));
    out.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    out.version = std::string(line.substr(sp2 + 1));
    if (out.method.empty() || !std::all_of(out.method.begin(), out.method.end(), token_char)) return Status::Bad;
    if (out.target.empty() || out.target.find_first_of(" \t\r\n") != std::string::npos) return Status::Bad;
    if (out.version != "HTTP/1.1" && out.version != "HTTP/1.0") return Status::Bad;
    head.remove_prefix(eol + 2);
    while (!head.empty()) {
        eol = head.find("\r\n");
        line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return Status::Bad;
        std::string_view name = line.substr(0, colon);
        if (!std::all_of(name.begin(), name.end(), token_char)) return Status::Bad;  // no obs-fold, no spaces
        std::string_view value = trim(line.substr(colon + 1));
        if (value.find_first_of("\r\n") != std::string_view::npos) return Status::Bad;
        // Two Hosts, or two framings of the body: a server picks one as it likes, and a body
        // read by another length than the proxy's is a second request (RFC 9112 says 400).
        for (const char* once : {"host", "content-length", "transfer-encoding"})
            if (iequal(name, once) && header(out, once)) return Status::Bad;
        out.headers.emplace_back(std::string(name), std::string(value));
    }
    return Status::Ok;
}

std::optional<std::string> header(const Request& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
        if (iequal(k, name)) return v;
    return std::nullopt;
}

std::optional<Authority> parse_authority(std::string_view text) {
    Authority a;
    std::string_view port;
    if (text.starts_with('[')) {
        size_t close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        a.host = std::string(text.substr(1, close - 1));
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
            if (port.empty()) return std::nullopt;
        }
    } else {
        size_t colon = text.find(':');
        if (colon != text.rfind(':')) return std::nullopt;
        a.host = std::string(text.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = text.substr(colon + 1);
            if (port.empty()) return std::nullopt;
        }
    }
    if (a.host.empty() || a.host.find('@') != std::string::npos) return std::nullopt;
    if (!port.empty()) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
        unsigned long v = std::stoul(std::string(port));
        if (v < 1 || v > 65535) return std::nullopt;
        a.port = static_cast<uint16_t>(v);
    }
    return a;
}

std::optional<AbsoluteUri> parse_absolute(std::string_view target) {
    size_t sep = target.find("://");
    if (sep == std::string_view::npos || sep == 0) return std::nullopt;
    AbsoluteUri u;
    u.scheme = std::string(target.substr(0, sep));
    std::transform(u.scheme.begin(), u.scheme.end(), u.scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view rest = target.substr(sep + 3);
    size_t slash = rest.find_first_of("/?#");
    auto auth = parse_authority(rest.substr(0, slash));
    if (!auth) return std::nullopt;
    u.authority = *auth;
    u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (u.path.front() != '/') u.path = "/" + u.path;
    return u;
}

std::string forward(const Request& r, std::string_view target) {
    std::string out = r.method + " " + std::string(target) + " " + r.version + "\r\n";
    for (const auto& [k, v] : r.headers) {
        if (iequal(k, "connection") || iequal(k, "keep-alive") || iequal(k, "proxy-connection") ||
            iequal(k, "proxy-authorization") || iequal(k, "proxy-authenticate"))
            continue;
        out += k + ": " + v + "\r\n";
    }
    out += "Connection: close\r\n\r\n";
    return out;
}

}  // namespace caisson::http_head
