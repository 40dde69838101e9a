#include "policy/dns_message.hpp"

namespace caisson::dns_message {
namespace {

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

}  // namespace

std::optional<Question> parse_query(const uint8_t* data, size_t size, uint16_t* id) {
    if (size < 12) return std::nullopt;
    Question q;
    q.id = be16(data);
    if (id) *id = q.id;
    const uint16_t flags = be16(data + 2);
    const bool response = flags & 0x8000;
    const unsigned opcode = (flags >> 11) & 0xf;
    if (response || opcode != 0) return std::nullopt;
    q.recursion_desired = flags & 0x0100;
    if (be16(data + 4) != 1 || be16(data + 6) != 0 || be16(data + 8) != 0 || be16(data + 10) > 1) return std::nullopt;
    // The name: labels, each a length byte and that many bytes, ending in a zero length. A
    // question names itself in full: a compression pointer here is an error.
    size_t at = 12;
    for (;;) {
        if (at >= size) return std::nullopt;
        const uint8_t len = data[at++];
        if (len == 0) break;
        if (len > 63 || at + len > size) return std::nullopt;
        if (!q.name.empty()) q.name += '.';
        for (size_t i = 0; i < len; ++i) {
            char c = static_cast<char>(data[at + i]);
            if (c == '.' || c == '\0') return std::nullopt;  // would change the name's meaning once joined
            q.name += c;
        }
        at += len;
        if (q.name.size() > 253) return std::nullopt;
    }
    if (at + 4 > size) return std::nullopt;
    q.type = be16(data + at);
    q.klass = be16(data + at + 2);
    q.question_end = at + 4;
    return q;
}

std::vector<uint8_t> header_only(uint16_t id, Rcode rcode) {
    std::vector<uint8_t> out;
    put16(out, id);
    put16(out, static_cast<uint16_t>(0x8000 | 0x0080 | static_cast<uint8_t>(rcode)));  // QR, RA
    for (int i = 0; i < 4; ++i) put16(out, 0);
    return out;
}

std::vector<uint8_t> answer(const uint8_t* query, const Question& q, Rcode rcode,
                            const std::vector<std::array<uint8_t, 4>>& addresses, uint32_t ttl) {
    const bool records = rcode == Rcode::NoError && q.type == kTypeA && q.klass == kClassIN;
    const uint16_t count = records ? static_cast<uint16_t>(addresses.size()) : 0;
    std::vector<uint8_t> out;
    out.reserve(q.question_end + count * 16u);
    put16(out, q.id);
    put16(out, static_cast<uint16_t>(0x8000 | 0x0400 | (q.recursion_desired ? 0x0100 : 0) | 0x0080 | static_cast<uint8_t>(rcode)));
    put16(out, 1);      // the question, echoed
    put16(out, count);  // answers
    put16(out, 0);
    put16(out, 0);
    out.insert(out.end(), query + 12, query + q.question_end);
    for (uint16_t i = 0; i < count; ++i) {
        put16(out, 0xc00c);  // the name: a pointer to the question's
        put16(out, kTypeA);
        put16(out, kClassIN);
        put16(out, static_cast<uint16_t>(ttl >> 16));
        put16(out, static_cast<uint16_t>(ttl));
        put16(out, 4);
        out.insert(out.end(), addresses[i].begin(), addresses[i].end());
    }
    return out;
}

}  // namespace caisson::dns_message
