#include "policy/toml_guard.hpp"

#include <caisson/error.hpp>

namespace caisson::toml_guard {

void require_ascii_structure(std::string_view t, const std::string& origin) {
    // toml++ lexes a broken line in ways a simple scanner cannot follow (a quote inside a
    // bad value does not open a string), so non-ASCII is allowed in whole-line comments only.
    size_t line = 1;
    for (size_t start = 0; start < t.size();) {
        size_t end = t.find('\n', start);
        if (end == std::string_view::npos) end = t.size();
        std::string_view l = t.substr(start, end - start);
        size_t first = l.find_first_not_of(" \t");
        bool comment = first != std::string_view::npos && l[first] == '#';
        for (size_t i = 0; i < l.size() && !comment; ++i)
            if (static_cast<unsigned char>(l[i]) >= 0x80)
                throw Error::usage(origin + ":" + std::to_string(line) + ":" + std::to_string(i + 1) +
                                   ": non-ASCII character (allowed in whole-line comments only)");
        start = end + 1;
        ++line;
    }
}

toml::table parse(std::string_view text, const std::string& origin) {
    require_ascii_structure(text, origin);
    try {
        return toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        const auto& at = e.source().begin;
        throw Error::usage(origin + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                           std::string(e.description()));
    }
}

}  // namespace caisson::toml_guard
