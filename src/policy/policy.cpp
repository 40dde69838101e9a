#include <caisson/error.hpp>
#include <caisson/policy.hpp>

#include "policy/seccomp_profile.hpp"


namespace caisson {

// runc's and crun's default maskedPaths / readonlyPaths (OCI spec defaults).
std::vector<std::string> default_masked_paths() {
    return {"/proc/acpi",        "/proc/asound",         "/proc/kcore",
            "/proc/keys",        "/proc/latency_stats",  "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug",    "/proc/scsi",
            "/sys/firmware",     "/sys/devices/virtual/powercap"};
}

std::vector<std::string> default_readonly_paths() {
    return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

Policy default_policy() {
    Policy p;
    p.fs.masked_paths = default_masked_paths();
    p.fs.readonly_paths = default_readonly_paths();
    p.seccomp = seccomp_profile::load("default");
    return p;
}

}  // namespace caisson
