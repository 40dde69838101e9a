#include "policy/printable.hpp"

#include <cstdio>

namespace caisson {

std::string printable(const std::string& text, size_t max) {
    std::string out;
    for (unsigned char ch : text) {
        if (out.size() >= max) return out + "...";
        if (ch >= 0x20 && ch < 0x7f) {
            out += static_cast<char>(ch);
        } else {
            char esc[5];
            std::snprintf(esc, sizeof(esc), "\\x%02x", ch);
            out += esc;
        }
    }
    return out;
}

}  // namespace caisson
