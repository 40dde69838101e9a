// What to write into the sandbox's cgroups, decided from the policy's resources and which
// cgroup version serves each controller. Pure: the files are named, nothing is touched.
#pragma once

#include <caisson/policy.hpp>

#include <map>
#include <string>
#include <vector>

namespace caisson::cgroup_plan {

enum class Version { V1, V2 };

// A value the driver fills from the parent cgroup (cpuset.cpus and .mems start empty on v1).
inline constexpr const char* kFromParent = "@parent";
// A file name with this prefix is written only where the kernel has the file.
inline constexpr const char* kOptional = "?";

struct Write {
    std::string controller;
    std::string file;
    std::string value;
};

struct Plan {
    std::vector<std::string> controllers;  // the controllers the sandbox's cgroup joins
    std::vector<Write> writes;             // in order (memory.limit before memsw, ...)
    std::vector<DeviceRule> devices;       // the full ordered list, when devices are limited
    std::vector<std::string> limits;       // "memory.max=268435456": for the report
};

// The devices caisson's minimal /dev holds: null, zero, full, random, urandom, tty, ptmx
// and the private devpts' terminals.
std::vector<DeviceRule> default_devices();

// Errors name a field as its face spells it: `caisson run`'s flags, or config.json's fields.
enum class Spelling { Flags, OciConfig };

struct Options {
    Spelling spelling = Spelling::Flags;
    bool join_all = false;  // the cgroup joins every hierarchy the host has (runc's rule)
    // A change to a running sandbox (caisson-oci update): on v1 a swap limit may come alone
    // (memory plus swap, as given); a memory limit alone still means no swap.
    bool update = false;
};

// The one planner, for both faces. `where` maps each controller this host has to the version
// that serves it. Throws caisson::Error (usage) naming the field when a controller is missing
// or a value has no meaning on the version that serves it.
Plan plan(const Resources& r, const std::map<std::string, Version>& where, const Options& o = {});

}  // namespace caisson::cgroup_plan
