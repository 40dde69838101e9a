#include "mech/rlimits.hpp"

#include "policy/values.hpp"

#include <sys/resource.h>

namespace caisson::mech {

bool apply_rlimits(const std::vector<Rlimit>& limits, kernel::Failure& f) {
    for (const auto& r : limits) {
        rlimit lim{static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard)};
        // Raising a hard limit needs CAP_SYS_RESOURCE in the host's namespace: EPERM then.
        if (::setrlimit(static_cast<__rlimit_resource>(r.resource), &lim) < 0)
            return f.set("setrlimit", values::rlimit_name(r.resource));
    }
    return true;
}

}  // namespace caisson::mech
