// The OCI runtime-spec 1.2 configuration (config.json) for Linux, as plain data, and its
// parser. Pure: no system calls. Unknown properties are ignored, as the spec requires;
// a known property caisson cannot honour is refused by validate(), naming the field.
#pragma once

#include <caisson/oci.hpp>

#include <caisson/seccomp.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace caisson::oci {


struct IdMapping {
    uint32_t container_id = 0, host_id = 0, size = 0;
};

struct Mount {
    std::string destination, type, source;
    std::vector<std::string> options;
    std::vector<IdMapping> uid_mappings, gid_mappings;  // idmapped mounts
};

struct Hook {
    std::string path;
    std::vector<std::string> args, env;
    std::optional<int> timeout;  // seconds
};

struct Hooks {
    std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart, poststop;
};

struct Rlimit {
    std::string type;  // RLIMIT_NOFILE
    uint64_t soft = 0, hard = 0;
};

struct CapabilitySets {
    uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

struct Scheduler {
    std::string policy;  // SCHED_OTHER, SCHED_FIFO, ...
    int32_t nice = 0, priority = 0;
    std::vector<std::string> flags;
    uint64_t runtime = 0, deadline = 0, period = 0;
};

struct IoPriority {
    std::string klass;  // IOPRIO_CLASS_RT, _BE, _IDLE
    int priority = 0;
};

struct User {
    uint32_t uid = 0, gid = 0;
    std::optional<uint32_t> umask;
    std::vector<uint32_t> additional_gids;
};

struct Process {
    bool terminal = false;
    std::optional<std::pair<unsigned, unsigned>> console_size;  // height, width
    User user;
    std::vector<std::string> args, env;
    std::string cwd = "/";
    std::optional<CapabilitySets> capabilities;
    std::vector<Rlimit> rlimits;
    bool no_new_privileges = false;
    std::string apparmor_profile, selinux_label;
    std::optional<int> oom_score_adj;
    std::optional<Scheduler> scheduler;
    std::optional<IoPriority> io_priority;
    // execCPUAffinity: the CPUs before the move into the container's cgroup, and after.
    std::string exec_cpu_initial, exec_cpu_final;
};

struct Namespace {
    std::string type;  // pid network mount ipc uts user cgroup time
    std::string path;  // join this one instead of making a new one
};

struct Device {
    std::string type, path;  // c, b, u, p
    int64_t major = 0, minor = 0;
    std::optional<uint32_t> file_mode, uid, gid;
};

struct DeviceCgroup {
    bool allow = false;
    std::string type = "a";
    std::optional<int64_t> major, minor;
    std::string access = "rwm";
};

struct WeightDevice {
    int64_t major = 0, minor = 0;
    std::optional<uint16_t> weight, leaf_weight;
};
struct ThrottleDevice {
    int64_t major = 0, minor = 0;
    uint64_t rate = 0;
};

// linux.resources: every field optional, as in the spec.
struct Resources {
    std::vector<DeviceCgroup> devices;
    struct Memory {
        std::optional<int64_t> limit, reservation, swap, kernel, kernel_tcp;
        std::optional<uint64_t> swappiness;
        std::optional<bool> disable_oom_killer, use_hierarchy, check_before_update;
    } memory;
    struct Cpu {
        std::optional<uint64_t> shares, period, realtime_period;
        std::optional<int64_t> quota, realtime_runtime, burst, idle;
        std::string cpus, mems;
    } cpu;
    std::optional<int64_t> pids_limit;
    struct BlockIo {
        std::optional<uint16_t> weight, leaf_weight;
        std::vector<WeightDevice> weight_device;
        std::vector<ThrottleDevice> read_bps, write_bps, read_iops, write_iops;
    } block_io;
    std::vector<std::pair<std::string, uint64_t>> hugepage_limits;  // pageSize -> limit
    struct Network {
        std::optional<uint32_t> class_id;
        std::vector<std::pair<std::string, uint32_t>> priorities;
    } network;
    std::map<std::string, std::string> unified;
    std::map<std::string, std::map<std::string, uint64_t>> rdma;
};

struct SeccompArg {
    unsigned index = 0;
    uint64_t value = 0, value_two = 0;
    std::string op;
};
struct SeccompSyscall {
    std::vector<std::string> names;
    std::string action;
    std::optional<uint32_t> errno_ret;
    std::vector<SeccompArg> args;
};
struct Seccomp {
    std::string default_action;
    std::optional<uint32_t> default_errno_ret;
    std::vector<std::string> architectures, flags;
    std::string listener_path, listener_metadata;
    std::vector<SeccompSyscall> syscalls;
};

struct Linux {
    std::vector<Namespace> namespaces;
    std::vector<IdMapping> uid_mappings, gid_mappings;
    std::map<std::string, std::pair<int64_t, uint32_t>> time_offsets;  // clock -> secs, nanosecs
    std::vector<Device> devices;
    std::string cgroups_path;
    std::optional<Resources> resources;
    std::string rootfs_propagation;
    std::optional<Seccomp> seccomp;
    std::map<std::string, std::string> sysctl;
    std::vector<std::string> masked_paths, readonly_paths;
    std::string mount_label;
    std::optional<std::string> personality_domain;
    bool has_intel_rdt = false;
    bool has_memory_policy = false;
    bool has_net_devices = false;
};

struct Spec {
    std::string oci_version;
    std::string root_path = "rootfs";
    bool root_readonly = false;
    std::optional<Process> process;
    std::string hostname, domainname;
    std::vector<Mount> mounts;
    Hooks hooks;
    std::map<std::string, std::string> annotations;
    Linux linux_;
    bool has_linux = false;
    bool has_hostname = false;
};

// Throws caisson::Error (usage) naming the property and, for malformed JSON, the line and
// column: "config.json:3:14: parse error: ...".
Spec parse_spec(const std::string& text, const std::string& origin = "config.json");
Spec parse_spec_json(const nlohmann::json& j);
Process parse_process(const nlohmann::json& j);        // exec --process FILE
Resources parse_resources(const nlohmann::json& j);    // update --resources FILE

// Refuses what the spec asks and caisson cannot give, naming the field.
void validate(const Spec& spec);

// A bit per capability; throws for an unknown name ("CAP_FOO" in process.capabilities.x).
uint64_t capability_bits(const std::vector<std::string>& names, const std::string& field);
std::vector<std::string> capability_names(uint64_t bits);



}  // namespace caisson::oci
