// Run profiles (TOML, every setting of the schema): apply or refuse with caisson::Error.
#include "policy/profile.hpp"

#include <caisson/error.hpp>

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    // Keys that name files (extends, seccomp FILE) would read the disk: text only.
    if (text.find("extends") != std::string::npos || text.find('/') != std::string::npos) return 0;
    caisson::Policy p;
    try {
        caisson::profile::apply_text(p, text, "fuzz.toml");
    } catch (const caisson::Error&) {
    }
    return 0;
}
