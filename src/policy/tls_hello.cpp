#include "policy/tls_hello.hpp"

#include <algorithm>
#include <vector>

namespace caisson::tls_hello {
namespace {

constexpr size_t kMaxHandshake = 16 * 1024;

struct Reader {
    const uint8_t* p;
    size_t n;
    size_t at = 0;
    bool ok = true;
    uint32_t take(int bytes) {
        if (at + static_cast<size_t>(bytes) > n) {
            ok = false;
            return 0;
        }
        uint32_t v = 0;
        for (int i = 0; i < bytes; ++i) v = v << 8 | p[at++];
        return v;
    }
    void skip(size_t bytes) {
        if (at + bytes > n) ok = false;
        else at += bytes;
    }
};

}  // namespace

Result server_name(const uint8_t* data, size_t size) {
    // The handshake message, joined from consecutive handshake records.
    std::vector<uint8_t> hs;
    size_t at = 0;
    size_t wanted = 0;  // the ClientHello's whole length, once known
    for (;;) {
        if (size < at + 5) return {at == 0 && size > 0 && data[0] != 0x16 ? Status::NotTls : Status::NeedMore, {}};
        if (data[at] != 0x16) return {at == 0 ? Status::NotTls : Status::Bad, {}};
        if (data[at + 1] != 0x03) return {at == 0 ? Status::NotTls : Status::Bad, {}};
        const size_t len = static_cast<size_t>(data[at + 3]) << 8 | data[at + 4];
        if (len == 0 || len > 16384 + 2048) return {Status::Bad, {}};
        const size_t have = std::min(len, size - at - 5);
        hs.insert(hs.end(), data + at + 5, data + at + 5 + have);
        if (hs.size() >= 4 && wanted == 0) {
            if (hs[0] != 0x01) return {Status::Bad, {}};  // not a ClientHello
            wanted = 4 + (static_cast<size_t>(hs[1]) << 16 | static_cast<size_t>(hs[2]) << 8 | hs[3]);
            if (wanted > kMaxHandshake) return {Status::Bad, {}};
        }
        if (wanted && hs.size() >= wanted) break;
        if (have < len) return {Status::NeedMore, {}};  // this record is not all here yet
        at += 5 + len;
    }
    Reader r{hs.data(), wanted};
    r.skip(4);       // type, length
    r.skip(2 + 32);  // version, random
    r.skip(r.take(1));  // session id
    r.skip(r.take(2));  // cipher suites
    r.skip(r.take(1));  // compression methods
    if (!r.ok) return {Status::Bad, {}};
    if (r.at == r.n) return {Status::NoName, {}};  // no extensions at all
    const size_t ext_len = r.take(2);
    const size_t ext_end = r.at + ext_len;
    if (!r.ok || ext_end > r.n) return {Status::Bad, {}};
    // A server picks one of two names as it likes: an extension twice, or a list of more
    // than one name, is refused rather than judged by the first.
    std::vector<uint32_t> seen;
    Result found{Status::NoName, {}};
    while (r.at + 4 <= ext_end) {
        const uint32_t type = r.take(2);
        const size_t len = r.take(2);
        if (!r.ok || r.at + len > ext_end) return {Status::Bad, {}};
        if (std::find(seen.begin(), seen.end(), type) != seen.end()) return {Status::Bad, {}};
        seen.push_back(type);
        if (type != 0) {
            r.skip(len);
            continue;
        }
        Reader list{hs.data(), r.at + len, r.at};
        const size_t list_len = list.take(2);
        const size_t list_end = list.at + list_len;
        if (!list.ok || list_end != r.at + len) return {Status::Bad, {}};
        const uint32_t name_type = list.take(1);
        const size_t name_len = list.take(2);
        if (!list.ok || name_type != 0 || list.at + name_len != list_end) return {Status::Bad, {}};
        std::string name(reinterpret_cast<const char*>(hs.data() + list.at), name_len);
        if (name.empty() || name.find('\0') != std::string::npos) return {Status::Bad, {}};
        found = {Status::Name, name};
        r.skip(len);
    }
    if (r.at != ext_end) return {Status::Bad, {}};
    return found;
}

}  // namespace caisson::tls_hello
