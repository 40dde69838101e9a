// The seccomp condition language: any text either parses or is refused with caisson::Error;
// what parses prints back to text that parses to the same condition.
#include "filter/condition.hpp"

#include <caisson/error.hpp>

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    try {
        auto e = caisson::filter::parse_condition(text);
        std::string once = caisson::filter::condition_text(e);
        std::string twice = caisson::filter::condition_text(caisson::filter::parse_condition(once));
        if (once != twice) std::abort();
    } catch (const caisson::Error&) {
    }
    try {
        (void)caisson::filter::parse_value(text);
    } catch (const caisson::Error&) {
    }
    return 0;
}
