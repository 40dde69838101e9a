#include "policy/cgroup_plan.hpp"

#include "policy/values.hpp"

#include <caisson/error.hpp>

#include <algorithm>
#include <cmath>

namespace caisson::cgroup_plan {
namespace {

constexpr uint64_t kCpuPeriodUs = 100000;

class Builder {
public:
    Builder(const std::map<std::string, Version>& where, Spelling spelling) : where_(where), spelling_(spelling) {}

    // A field as the face spells it: `flag` for caisson run, linux.resources.`oci` for config.json.
    std::string name(const char* flag, const std::string& oci) const {
        return spelling_ == Spelling::Flags ? std::string(flag) : "config.json: linux.resources." + oci;
    }
    // The same inside a sentence, after a first name has said where it is.
    std::string also(const char* flag, const std::string& oci) const {
        return spelling_ == Spelling::Flags ? std::string(flag) : "linux.resources." + oci;
    }
    // The version serving `controller`, or an error naming the field that needs it.
    Version need(const std::string& controller, const std::string& field) {
        auto it = where_.find(controller);
        if (it == where_.end())
            throw Error::usage(field + ": this host has no cgroup controller '" + controller + "' (see /proc/cgroups)");
        join(controller);
        return it->second;
    }
    bool has(const std::string& controller) const { return where_.count(controller) > 0; }
    void join(const std::string& controller) {
        if (has(controller) && std::find(p.controllers.begin(), p.controllers.end(), controller) == p.controllers.end())
            p.controllers.push_back(controller);
    }
    void write(const std::string& controller, const std::string& file, const std::string& value) {
        p.writes.push_back({controller, file, value});
        std::string shown = file.rfind(kOptional, 0) == 0 ? file.substr(1) : file;
        if (value != kFromParent) p.limits.push_back(shown + "=" + value);
    }
    // A limit's text: the number, or each version's "no limit".
    static std::string limit(uint64_t v, Version version) {
        return v == kUnlimited ? (version == Version::V1 ? "-1" : "max") : std::to_string(v);
    }
    [[noreturn]] static void v1_only(const std::string& field) {
        throw Error::usage(field + ": has no cgroup v2 equivalent (this host serves the controller on v2)");
    }

    Plan p;

private:
    const std::map<std::string, Version>& where_;
    Spelling spelling_;
};

std::string hugepage_size(std::string s) {
    // The kernel names them 2MB, 1GB, 64KB.
    if (!s.empty() && (s.back() == 'M' || s.back() == 'G' || s.back() == 'K')) s += 'B';
    if (s.size() > 2 && s[s.size() - 2] == 'k') s[s.size() - 2] = 'K';
    return s;
}

std::string device_line(uint32_t major, uint32_t minor) { return std::to_string(major) + ":" + std::to_string(minor); }

// A file name to write inside the cgroup's own directory: one component, no way out.
bool plain_file_name(const std::string& s) {
    return !s.empty() && s.find('/') == std::string::npos && s != "." && s != "..";
}

void plan_memory(Builder& b, const Resources& r, bool update) {
    if (!(r.memory || r.memory_swap || r.memory_low || r.memory_swappiness || r.memory_oom_killer_off || r.memory_kernel_tcp))
        return;
    const std::string field = b.name("--memory", "memory");
    Version v = b.need("memory", field);
    const std::string swap_field = b.name("--memory-swap", "memory.swap");
    if (r.memory_swap && *r.memory_swap != kUnlimited) {
        // v1 takes memory plus swap as it is; v2 needs the memory limit to tell the swap apart.
        bool alone_ok = update && v == Version::V1;
        if ((!r.memory || *r.memory == kUnlimited) && !alone_ok)
            throw Error::usage(swap_field + " needs " + b.also("--memory", "memory.limit"));
        if (r.memory && *r.memory_swap < *r.memory)
            throw Error::usage(swap_field + ": memory plus swap cannot be below " + b.also("--memory", "memory.limit"));
    }
    if (r.memory) {
        uint64_t mem = *r.memory;
        b.write("memory", v == Version::V1 ? "memory.limit_in_bytes" : "memory.max", Builder::limit(mem, v));
        // The swap limit is asked for explicitly or, by default, none (an update too: the
        // model says no swap unless named): written wherever the kernel accounts swap at all
        // (kOptional: skipped when the file does not exist).
        std::string optional = r.memory_swap ? "" : kOptional;
        if (v == Version::V1) {
            b.write("memory", optional + "memory.memsw.limit_in_bytes", Builder::limit(r.memory_swap.value_or(mem), v));
        } else {
            uint64_t total = r.memory_swap.value_or(mem);
            b.write("memory", optional + "memory.swap.max",
                    total == kUnlimited || mem == kUnlimited ? "max" : std::to_string(total - mem));
        }
    } else if (r.memory_swap) {  // alone: lifted (kUnlimited), or on v1 memory plus swap as given
        b.write("memory", v == Version::V1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max", Builder::limit(*r.memory_swap, v));
    }
    if (v == Version::V2 && r.memory && r.oom_kill_group) b.write("memory", "memory.oom.group", "1");
    if (r.memory_low) b.write("memory", v == Version::V1 ? "memory.soft_limit_in_bytes" : "memory.low", Builder::limit(*r.memory_low, v));
    if (r.memory_swappiness) {
        if (*r.memory_swappiness > 100) throw Error::usage(b.name("--memory", "memory.swappiness") + ": must be 0 to 100");
        if (v == Version::V2) Builder::v1_only(b.name("--memory", "memory.swappiness"));
        b.write("memory", "memory.swappiness", std::to_string(*r.memory_swappiness));
    }
    if (r.memory_oom_killer_off) {
        if (v == Version::V2) Builder::v1_only(b.name("--memory", "memory.disableOOMKiller"));
        b.write("memory", "memory.oom_control", "1");
    }
    if (r.memory_kernel_tcp) {
        if (v == Version::V2) Builder::v1_only(b.name("--memory", "memory.kernelTCP"));
        b.write("memory", "memory.kmem.tcp.limit_in_bytes", Builder::limit(*r.memory_kernel_tcp, v));
    }
}

void plan_cpu(Builder& b, const Resources& r) {
    if (!(r.cpus || r.cpu_weight || r.cpu_shares || r.cpu_quota_us || r.cpu_period_us || r.cpu_burst_us ||
          r.cpu_rt_runtime_us || r.cpu_rt_period_us || r.cpu_idle))
        return;
    Version v = b.need("cpu", b.name(r.cpus ? "--cpus" : "--cpu-weight", "cpu"));
    // The bandwidth: --cpus as a quota at the default period, or OCI's quota and period.
    std::optional<uint64_t> quota = r.cpu_quota_us, period = r.cpu_period_us;
    if (r.cpus) {
        quota = std::max<uint64_t>(static_cast<uint64_t>(std::llround(*r.cpus * kCpuPeriodUs)), 1000);  // the kernel's minimum
        period = kCpuPeriodUs;
    }
    if (v == Version::V1) {
        if (period) b.write("cpu", "cpu.cfs_period_us", std::to_string(*period));
        if (quota) b.write("cpu", "cpu.cfs_quota_us", Builder::limit(*quota, v));
        if (r.cpu_burst_us) b.write("cpu", "cpu.cfs_burst_us", std::to_string(*r.cpu_burst_us));
        if (r.cpu_rt_period_us) b.write("cpu", "cpu.rt_period_us", std::to_string(*r.cpu_rt_period_us));
        if (r.cpu_rt_runtime_us) b.write("cpu", "cpu.rt_runtime_us", Builder::limit(*r.cpu_rt_runtime_us, v));
    } else {
        if (quota || period)
            b.write("cpu", "cpu.max", (quota ? Builder::limit(*quota, v) : "max") + " " + std::to_string(period.value_or(kCpuPeriodUs)));
        if (r.cpu_burst_us) b.write("cpu", "cpu.max.burst", std::to_string(*r.cpu_burst_us));
        if (r.cpu_rt_runtime_us || r.cpu_rt_period_us) Builder::v1_only(b.name("--cpus", "cpu.realtimeRuntime"));
    }
    if (r.cpu_idle) b.write("cpu", "cpu.idle", std::to_string(*r.cpu_idle));
    if (r.cpu_weight) {
        // Each version's default for the default: weight 100 is 1024 shares, so that
        // "100 = an equal share" holds on v1 too (v1 accepts 2..262144).
        uint64_t w = *r.cpu_weight;
        if (v == Version::V1) b.write("cpu", "cpu.shares", std::to_string(std::max<uint64_t>(2, w * 1024 / 100)));
        else b.write("cpu", "cpu.weight", std::to_string(w));
    } else if (r.cpu_shares && *r.cpu_shares) {
        // runc's conversion of v1 shares (2..262144) to a v2 weight (1..10000).
        if (v == Version::V1) b.write("cpu", "cpu.shares", std::to_string(*r.cpu_shares));
        else b.write("cpu", "cpu.weight", std::to_string(1 + ((std::clamp<uint64_t>(*r.cpu_shares, 2, 262144) - 2) * 9999) / 262142));
    }
}

void plan_io(Builder& b, const Resources& r) {
    if (!(r.io_weight || !r.io_max.empty() || r.blkio_weight || r.blkio_leaf_weight || !r.blkio_weight_devices.empty())) return;
    const std::string field = b.name(r.io_weight ? "--io-weight" : "--io-max", "blockIO");
    bool v1 = !b.has("io") && b.has("blkio");
    Version v = b.need(v1 ? "blkio" : "io", field);
    const std::string ctl = v1 ? "blkio" : "io";
    // blkio's weights span 10..1000 (500 the default); io's 1..10000 (100 the default).
    auto blkio_weight = [&](uint16_t w, const std::string& name) {
        if (w < 10 || w > 1000) throw Error::usage(name + ": must be 10 to 1000");
        return v == Version::V1 ? std::to_string(w) : std::to_string(1 + (static_cast<unsigned>(w) - 10) * 9999 / 990);
    };
    if (r.io_weight) {
        if (v1) b.write(ctl, "blkio.weight", std::to_string(std::clamp<uint64_t>(*r.io_weight * 5, 10, 1000)));
        else b.write(ctl, "io.weight", "default " + std::to_string(*r.io_weight));
    } else if (r.blkio_weight) {
        std::string w = blkio_weight(*r.blkio_weight, b.name("--io-weight", "blockIO.weight"));
        b.write(ctl, v1 ? "blkio.weight" : "io.weight", v1 ? w : "default " + w);
    }
    if (r.blkio_leaf_weight) {
        if (!v1) Builder::v1_only(b.name("--io-weight", "blockIO.leafWeight"));
        b.write(ctl, "blkio.leaf_weight", blkio_weight(*r.blkio_leaf_weight, b.name("--io-weight", "blockIO.leafWeight")));
    }
    for (const auto& d : r.blkio_weight_devices)
        b.write(ctl, v1 ? "blkio.weight_device" : "io.weight",
                device_line(d.major, d.minor) + " " + blkio_weight(d.weight, b.name("--io-weight", "blockIO.weightDevice")));
    for (const auto& m : r.io_max) {
        const std::string dev = device_line(m.major, m.minor);
        if (v1) {
            // 0 removes a v1 throttle.
            if (m.rbps) b.write(ctl, "blkio.throttle.read_bps_device", dev + " " + std::to_string(*m.rbps));
            if (m.wbps) b.write(ctl, "blkio.throttle.write_bps_device", dev + " " + std::to_string(*m.wbps));
            if (m.riops) b.write(ctl, "blkio.throttle.read_iops_device", dev + " " + std::to_string(*m.riops));
            if (m.wiops) b.write(ctl, "blkio.throttle.write_iops_device", dev + " " + std::to_string(*m.wiops));
        } else {
            std::string line = dev;
            auto key = [&](const char* k, const std::optional<uint64_t>& x) {
                if (x) line += std::string(" ") + k + "=" + (*x ? std::to_string(*x) : "max");
            };
            key("rbps", m.rbps);
            key("wbps", m.wbps);
            key("riops", m.riops);
            key("wiops", m.wiops);
            b.write(ctl, "io.max", line);
        }
    }
}

void plan_devices(Builder& b, const Resources& r) {
    if (r.devices.empty()) return;
    b.p.devices = default_devices();
    b.p.devices.insert(b.p.devices.end(), r.devices.begin(), r.devices.end());
    if (b.has("devices") && b.need("devices", b.name("--device-allow", "devices")) == Version::V1) {
        b.write("devices", "devices.deny", "a");
        // "a" with a device number would be refused: "a" means every device.
        for (const auto& d : b.p.devices)
            b.write("devices", d.allow ? "devices.allow" : "devices.deny", d.type == 'a' ? "a" : values::device_rule_text(d));
    }
    // On v2 the rules become a BPF_PROG_TYPE_CGROUP_DEVICE program (mech/device_filter).
}

}  // namespace

std::vector<DeviceRule> default_devices() {
    std::vector<DeviceRule> d;
    for (int minor : {3, 5, 7, 8, 9}) d.push_back({true, 'c', 1, minor, "rwm"});  // null zero full random urandom
    d.push_back({true, 'c', 5, 0, "rwm"});                                          // tty
    d.push_back({true, 'c', 5, 2, "rwm"});                                          // ptmx
    d.push_back({true, 'c', 136, -1, "rwm"});                                       // /dev/pts/*
    return d;
}

Plan plan(const Resources& r, const std::map<std::string, Version>& where, const Options& o) {
    Builder b(where, o.spelling);
    if (o.join_all)
        for (const auto& [c, v] : where) b.join(c);
    plan_memory(b, r, o.update);
    plan_cpu(b, r);
    if (!r.cpuset_cpus.empty() || !r.cpuset_mems.empty()) {
        b.need("cpuset", b.name(r.cpuset_cpus.empty() ? "--cpuset-mems" : "--cpuset-cpus", "cpu.cpus"));
        if (!r.cpuset_cpus.empty()) values::parse_cpu_list(r.cpuset_cpus, b.name("--cpuset-cpus", "cpu.cpus"));
        if (!r.cpuset_mems.empty()) values::parse_cpu_list(r.cpuset_mems, b.name("--cpuset-mems", "cpu.mems"));
        // v1 needs both before a task can join; empty means "as the parent".
        b.write("cpuset", "cpuset.cpus", r.cpuset_cpus.empty() ? kFromParent : r.cpuset_cpus);
        b.write("cpuset", "cpuset.mems", r.cpuset_mems.empty() ? kFromParent : r.cpuset_mems);
    }
    if (r.pids) {
        b.need("pids", b.name("--pids", "pids.limit"));
        b.write("pids", "pids.max", *r.pids == kUnlimited ? "max" : std::to_string(*r.pids));  // "max" on v1 too
    }
    plan_io(b, r);
    for (const auto& [size, bytes] : r.hugetlb) {
        const std::string field = b.name("--hugetlb", "hugepageLimits");
        std::string s = hugepage_size(size);
        if (!plain_file_name(s)) throw Error::usage(field + ": bad page size \"" + size + "\"");
        Version v = b.need("hugetlb", field);
        b.write("hugetlb", "hugetlb." + s + (v == Version::V1 ? ".limit_in_bytes" : ".max"), std::to_string(bytes));
    }
    if (r.net_cls_classid) {
        if (b.need("net_cls", b.name("resources.net_cls_classid", "network.classID")) == Version::V2) Builder::v1_only(b.name("resources.net_cls_classid", "network.classID"));
        b.write("net_cls", "net_cls.classid", std::to_string(*r.net_cls_classid));
    }
    for (const auto& [iface, prio] : r.net_prio) {
        const std::string field = b.name("resources.net_prio", "network.priorities");
        if (b.need("net_prio", field) == Version::V2) Builder::v1_only(field);
        b.write("net_prio", "net_prio.ifpriomap", iface + " " + std::to_string(prio));
    }
    for (const auto& [dev, limits] : r.rdma) {
        b.need("rdma", b.name("--rdma", "rdma"));
        b.write("rdma", "rdma.max", dev + " " + limits);
    }
    for (const auto& [res, limit] : r.misc) {
        b.need("misc", "--misc");
        b.write("misc", "misc.max", res + " " + std::to_string(limit));
    }
    for (const auto& [file, value] : r.unified) {
        const std::string field = b.name("resources.unified", "unified." + file);
        if (!plain_file_name(file)) throw Error::usage(field + ": bad file name");
        std::string controller = file.substr(0, file.find('.'));
        if (controller == "cgroup") {  // the core's own files: no controller to join
            b.write("", file, value);
            continue;
        }
        auto it = where.find(controller);
        if (it == where.end() || it->second != Version::V2)
            throw Error::usage(field + ": the " + controller + " controller is not on cgroup v2 here");
        b.join(controller);
        b.write(controller, file, value);
    }
    plan_devices(b, r);
    // Accounting and control without limits: CPU use for the report, the freezer for a
    // kill that no fork can outrun (v1; v2 has both built in), perf_event for `perf -G`.
    for (const char* c : {"cpuacct", "freezer", "perf_event"}) b.join(c);
    return b.p;
}

}  // namespace caisson::cgroup_plan
