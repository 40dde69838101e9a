#include "run/vm_wire.hpp"

#include <caisson/error.hpp>

#include <cerrno>
#include <cstring>

namespace caisson::run::vm_wire {

namespace {

void put32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get32(std::string_view s, size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
    return v;
}

[[noreturn]] void malformed(const char* what) { throw Error(ErrorKind::Setup, "vm wire", what, EPROTO); }

}  // namespace

std::string encode(Frame type, std::string_view payload) {
    std::string out;
    out.reserve(5 + payload.size());
    out.push_back(static_cast<char>(type));
    put32(out, static_cast<uint32_t>(payload.size()));
    out.append(payload);
    return out;
}

std::optional<std::pair<Frame, std::string>> Reader::next() {
    if (buf_.size() - at_ < 5) return std::nullopt;
    uint32_t len = get32(buf_, at_ + 1);
    if (len > kMaxPayload) malformed("a frame longer than 1 MiB");
    if (buf_.size() - at_ < 5 + static_cast<size_t>(len)) return std::nullopt;
    auto type = static_cast<Frame>(buf_[at_]);
    std::string payload = buf_.substr(at_ + 5, len);
    at_ += 5 + len;
    if (at_ == buf_.size() || at_ > (64u << 10)) {  // keep the buffer from growing without end
        buf_.erase(0, at_);
        at_ = 0;
    }
    return std::make_pair(type, std::move(payload));
}

std::string encode_request(const Request& r) {
    std::string out;
    for (const auto* list : {&r.args, &r.env}) {
        put32(out, static_cast<uint32_t>(list->size()));
        for (const auto& s : *list) {
            put32(out, static_cast<uint32_t>(s.size()));
            out += s;
        }
    }
    put32(out, static_cast<uint32_t>(r.cwd.size()));
    out += r.cwd;
    return out;
}

Request decode_request(std::string_view p) {
    size_t at = 0;
    auto take32 = [&] {
        if (p.size() - at < 4) malformed("a short request");
        uint32_t v = get32(p, at);
        at += 4;
        return v;
    };
    auto take_string = [&] {
        uint32_t n = take32();
        if (p.size() - at < n) malformed("a short request");
        std::string s(p.substr(at, n));
        at += n;
        return s;
    };
    Request r;
    for (auto* list : {&r.args, &r.env}) {
        uint32_t count = take32();
        if (count > p.size()) malformed("a request with more strings than bytes");
        for (uint32_t i = 0; i < count; ++i) list->push_back(take_string());
    }
    r.cwd = take_string();
    if (at != p.size()) malformed("bytes after the request");
    return r;
}

}  // namespace caisson::run::vm_wire
