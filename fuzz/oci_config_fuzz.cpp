// OCI config.json (and exec's process.json, update's resources): parse, validate, then the
// pure steps create takes next (seccomp JSON through caisson's compiler, resources as a
// cgroup plan, mount options, cgroupsPath). Accept or refuse with caisson::Error, nothing else.
#include "filter/seccomp_compiler.hpp"
#include "oci/resources.hpp"
#include "oci/rootfs.hpp"
#include "oci/seccomp_json.hpp"
#include "oci/spec.hpp"

#include <caisson/error.hpp>

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace caisson;
    std::string text(reinterpret_cast<const char*>(data), size);
    try {
        nlohmann::json j = oci::parse_json(text, "fuzz.json");
        // The same document as each of the three readers.
        try {
            oci::parse_process(j);
        } catch (const Error&) {
        }
        try {
            oci::parse_resources(j);
        } catch (const Error&) {
        }
        oci::Spec s = oci::parse_spec_json(j);
        oci::validate(s);
        for (size_t i = 0; i < s.mounts.size(); ++i) oci::parse_mount_options(s.mounts[i].options, "mounts");
        oci::cgroup_location(s.linux_.cgroups_path, "fuzz");
        if (s.linux_.resources) {
            std::map<std::string, cgroup_plan::Version> where;
            for (const char* c : {"memory", "cpu", "cpuacct", "pids", "blkio", "cpuset", "devices", "freezer", "hugetlb"})
                where[c] = cgroup_plan::Version::V1;
            oci::plan_resources(*s.linux_.resources, where);
            for (auto& [c, v] : where) v = cgroup_plan::Version::V2;
            oci::plan_resources(*s.linux_.resources, where);
        }
        if (s.linux_.seccomp) {
            oci::SeccompTranslation t = oci::translate_seccomp(*s.linux_.seccomp);
            filter::CompileOptions opt;
            opt.allow_multiplexed = true;
            filter::compile(t.policy, opt);
        }
    } catch (const Error&) {
    }
    return 0;
}
