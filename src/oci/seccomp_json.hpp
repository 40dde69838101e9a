// OCI's seccomp section (libseccomp's vocabulary: SCMP_ACT_*, SCMP_CMP_*, SCMP_ARCH_*) as a
// caisson seccomp::Policy, for caisson's own compiler. Pure.
#pragma once

#include "oci/spec.hpp"

#include <caisson/seccomp.hpp>

#include <string>
#include <vector>

namespace caisson::oci {

struct SeccompTranslation {
    seccomp::Policy policy;
    unsigned filter_flags = 0;          // SECCOMP_FILTER_FLAG_LOG, _SPEC_ALLOW
    std::vector<std::string> skipped;   // syscall names no admitted ABI knows (runc skips them too)
    bool notify = false;                // some rule returns SCMP_ACT_NOTIFY
};

// Throws caisson::Error (usage) naming the field: an unknown action, operator or flag.
SeccompTranslation translate_seccomp(const Seccomp& s);

}  // namespace caisson::oci
