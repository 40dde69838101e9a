// seccomp policies in TOML: parse, compile, and run the program on a few calls. Bad input
// must end in caisson::Error; a compiled program must always be valid BPF.
#include "filter/bpf_eval.hpp"
#include "filter/seccomp_compiler.hpp"
#include "policy/seccomp_profile.hpp"

#include <caisson/error.hpp>

#include <linux/audit.h>

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    // A policy may name files (extends): keep the fuzzer to text.
    if (text.find("extends") != std::string::npos) return 0;
    try {
        auto policy = caisson::seccomp_profile::parse_text(text, "fuzz.toml");
        auto compiled = caisson::filter::compile(policy);
        for (uint32_t nr : {0u, 1u, 16u, 39u, 56u, 59u, 110u, 1000u, 0x40000027u}) {
            caisson::filter::SeccompInput in;
            in.arch = AUDIT_ARCH_X86_64;
            in.nr = nr;
            in.args[1] = 0x5412;
            if (!compiled.program.empty() && !caisson::filter::evaluate(compiled.program, in).ok) std::abort();
        }
    } catch (const caisson::Error&) {
    }
    return 0;
}
