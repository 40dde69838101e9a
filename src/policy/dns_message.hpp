// The DNS messages caisson's resolver reads and writes (RFC 1035): one question in, an
// answer of A records, an empty answer or NXDOMAIN out. Only what a stub resolver sends is
// read; anything else is a format error. Pure: bytes in, bytes out.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace caisson::dns_message {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kClassIN = 1;

struct Question {
    uint16_t id = 0;
    bool recursion_desired = false;
    std::string name;   // as asked, labels joined by '.', no trailing dot (not yet normalized)
    uint16_t type = 0;
    uint16_t klass = 0;
    size_t question_end = 0;  // where the question section ends in the query
};

// A standard query (opcode 0, QR clear) with exactly one question and no answers; an EDNS
// OPT record in the additional section is allowed and ignored. nullopt for anything else,
// with *id set when at least a header was there (for a FORMERR answer).
std::optional<Question> parse_query(const uint8_t* data, size_t size, uint16_t* id = nullptr);

enum class Rcode : uint8_t { NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, NotImp = 4, Refused = 5 };

// The answer to `query` (its question echoed): `addresses` as A records with `ttl`, when
// the question is of type A and class IN; otherwise no records.
std::vector<uint8_t> answer(const uint8_t* query, const Question& q, Rcode rcode,
                            const std::vector<std::array<uint8_t, 4>>& addresses = {}, uint32_t ttl = 0);

// A header-only answer (no question), for a query that did not parse.
std::vector<uint8_t> header_only(uint16_t id, Rcode rcode);

}  // namespace caisson::dns_message
