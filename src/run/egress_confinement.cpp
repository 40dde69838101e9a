#include "run/egress_confinement.hpp"

#include "policy/seccomp_profile.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>

namespace caisson::run {

SelfPolicy egress_confinement(std::vector<uint16_t> upstream_ports, pid_t self) {
    SelfPolicy s;
    // The built-in text itself: not a file of the same name on a profile path.
    s.seccomp = seccomp_profile::parse_text(seccomp_profile::builtin_text("egress-proxy"), "builtin:egress-proxy");
    s.seccomp.name = "egress-proxy";
    // Signals to its own threads only (the C library's abort, a thread's cancellation), even
    // where Landlock's signal scope is missing: tgkill's first argument is its own pid.
    for (auto& r : s.seccomp.rules)
        if (!r.conditional) std::erase(r.syscalls, "tgkill");
    const seccomp::Policy own = seccomp_profile::parse_text(
        "[[rule]]\nsyscall = \"tgkill\"\naction = \"allow\"\nif = \"arg0 == " + std::to_string(self) + "\"\n", "egress-proxy:own-pid");
    s.seccomp.rules.insert(s.seccomp.rules.begin(), own.rules.begin(), own.rules.end());
    std::vector<std::string> dirs{"/etc"};
    for (const char* file : {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/host.conf"}) {
        std::error_code ec;
        const auto real = std::filesystem::canonical(file, ec);
        if (ec) continue;
        const std::string dir = real.parent_path().string();
        if (dir != "/etc" && dir.rfind("/etc/", 0) != 0 && std::find(dirs.begin(), dirs.end(), dir) == dirs.end())
            dirs.push_back(dir);
    }
    for (const auto& d : dirs) s.landlock.paths.push_back({d, LandlockAccess::Read});
    s.landlock.restrict_bind = true;
    s.landlock.restrict_connect = true;
    upstream_ports.push_back(53);  // the resolver's TCP, for answers too long for UDP
    std::sort(upstream_ports.begin(), upstream_ports.end());
    upstream_ports.erase(std::unique(upstream_ports.begin(), upstream_ports.end()), upstream_ports.end());
    s.landlock.connect_ports = std::move(upstream_ports);
    s.landlock.scope_abstract_unix = true;
    s.landlock.scope_signal = true;
    s.landlock.best_effort = true;
    return s;
}

}  // namespace caisson::run
