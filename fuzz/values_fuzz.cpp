// The value parsers behind flags and profile keys: sizes, rlimits, devices, io limits, CPU
// lists, time offsets, capabilities, ids. The first byte picks the parser.
#include "policy/values.hpp"

#include <caisson/error.hpp>

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    using namespace caisson::values;
    try {
        switch (data[0] % 10) {
        case 0: (void)parse_size(text, "x"); break;
        case 1: (void)parse_rlimit(text); break;
        case 2: (void)parse_device_rule(text, data[0] & 0x80); break;
        case 3: (void)parse_io_max(text); break;
        case 4: (void)parse_cpu_list(text, "x"); break;
        case 5: (void)parse_time_offsets(text); break;
        case 6: (void)parse_capabilities(text, "x"); break;
        case 7: (void)parse_id(text, "x"); break;
        case 8: (void)parse_cpus(text); break;
        default: (void)parse_weight(text, "x"); break;
        }
    } catch (const caisson::Error&) {
    }
    return 0;
}
