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
    Builder(const std::map<std::string, Version>& where) : where_(where) {}

    // The version serving `controller`, or an error naming the flag that needs it.
    Version need(const std::string& controller, const char* flag) {
        auto it = where_.find(controller);
        if (it == where_.end())
            throw Error::usage(std::string(flag) + ": this host has no cgroup controller '" + controller +
                               "' (see /proc/cgroups)");
        if (std::find(p.controllers.begin(), p.controllers.end(), controller) == p.controllers.end())
            p.controllers.push_back(controller);
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

    Plan p;

private:
    const std::map<std::string, Version>& where_;
};

std::string hugepage_size(std::string s) {
    // The kernel names them 2MB, 1GB, 64KB.
    if (!s.empty() && (s.back() == 'M' || s.back() == 'G' || s.back() == 'K')) s += 'B';
    if (s.size() > 2 && s[s.size() - 2] == 'k') s[s.size() - 2] = 'K';
    return s;
}

std::string device_line(const IoMax& m) { return std::to_string(m.major) + ":" + std::to_string(m.minor); }

}  // namespace

std::vector<DeviceRule> default_devices() {
    std::vector<DeviceRule> d;
    for (int minor : {3, 5, 7, 8, 9}) d.push_back({true, 'c', 1, minor, "rwm"});  // null zero full random urandom
    d.push_back({true, 'c', 5, 0, "rwm"});                                          // tty
    d.push_back({true, 'c', 5, 2, "rwm"});                                          // ptmx
    d.push_back({true, 'c', 136, -1, "rwm"});                                       // /dev/pts/*
    return d;
}

Plan plan(const Resources& r, const std::map<std::string, Version>& where) {
    Builder b(where);
    if (r.memory || r.memory_swap) {
        if (r.memory_swap && !r.memory) throw Error::usage("--memory-swap needs --memory");
        if (r.memory_swap && *r.memory_swap < *r.memory)
            throw Error::usage("--memory-swap: memory plus swap cannot be below --memory");
        uint64_t mem = *r.memory, total = r.memory_swap.value_or(mem);
        // The swap limit is asked for explicitly or, by default, wherever the kernel accounts
        // swap at all (kOptional: skipped when the file does not exist).
        std::string swap_value = std::to_string(r.memory_swap ? total - mem : 0);
        if (b.need("memory", "--memory") == Version::V1) {
            b.write("memory", "memory.limit_in_bytes", std::to_string(mem));
            b.write("memory", r.memory_swap ? "memory.memsw.limit_in_bytes" : std::string(kOptional) + "memory.memsw.limit_in_bytes",
                    std::to_string(total));
        } else {
            b.write("memory", "memory.max", std::to_string(mem));
            b.write("memory", r.memory_swap ? "memory.swap.max" : std::string(kOptional) + "memory.swap.max", swap_value);
            if (r.oom_kill_group) b.write("memory", "memory.oom.group", "1");
        }
    }
    if (r.cpus || r.cpu_weight) {
        Version v = b.need("cpu", r.cpus ? "--cpus" : "--cpu-weight");
        if (r.cpus) {
            auto quota = static_cast<uint64_t>(std::llround(*r.cpus * kCpuPeriodUs));
            quota = std::max<uint64_t>(quota, 1000);  // the kernel's minimum
            if (v == Version::V1) {
                b.write("cpu", "cpu.cfs_period_us", std::to_string(kCpuPeriodUs));
                b.write("cpu", "cpu.cfs_quota_us", std::to_string(quota));
            } else {
                b.write("cpu", "cpu.max", std::to_string(quota) + " " + std::to_string(kCpuPeriodUs));
            }
        }
        if (r.cpu_weight) {
            // Each version's default for the default: weight 100 is 1024 shares, so that
            // "100 = an equal share" holds on v1 too (v1 accepts 2..262144).
            uint64_t w = *r.cpu_weight;
            if (v == Version::V1) b.write("cpu", "cpu.shares", std::to_string(std::max<uint64_t>(2, w * 1024 / 100)));
            else b.write("cpu", "cpu.weight", std::to_string(w));
        }
    }
    if (!r.cpuset_cpus.empty() || !r.cpuset_mems.empty()) {
        b.need("cpuset", r.cpuset_cpus.empty() ? "--cpuset-mems" : "--cpuset-cpus");
        // v1 needs both before a task can join; empty means "as the parent".
        b.write("cpuset", "cpuset.cpus", r.cpuset_cpus.empty() ? kFromParent : r.cpuset_cpus);
        b.write("cpuset", "cpuset.mems", r.cpuset_mems.empty() ? kFromParent : r.cpuset_mems);
    }
    if (r.pids) {
        b.need("pids", "--pids");
        b.write("pids", "pids.max", std::to_string(*r.pids));
    }
    if (r.io_weight || !r.io_max.empty()) {
        const char* flag = r.io_weight ? "--io-weight" : "--io-max";
        bool v1 = !b.has("io") && b.has("blkio");
        if (v1) {
            b.need("blkio", flag);
            // blkio.weight spans 10..1000 with 500 the default: weight 100 maps to 500.
            if (r.io_weight)
                b.write("blkio", "blkio.weight", std::to_string(std::clamp<uint64_t>(*r.io_weight * 5, 10, 1000)));
            for (const auto& m : r.io_max) {
                if (m.rbps) b.write("blkio", "blkio.throttle.read_bps_device", device_line(m) + " " + std::to_string(*m.rbps));
                if (m.wbps) b.write("blkio", "blkio.throttle.write_bps_device", device_line(m) + " " + std::to_string(*m.wbps));
                if (m.riops) b.write("blkio", "blkio.throttle.read_iops_device", device_line(m) + " " + std::to_string(*m.riops));
                if (m.wiops) b.write("blkio", "blkio.throttle.write_iops_device", device_line(m) + " " + std::to_string(*m.wiops));
            }
        } else {
            b.need("io", flag);
            if (r.io_weight) b.write("io", "io.weight", "default " + std::to_string(*r.io_weight));
            for (const auto& m : r.io_max) {
                std::string line = device_line(m);
                if (m.rbps) line += " rbps=" + std::to_string(*m.rbps);
                if (m.wbps) line += " wbps=" + std::to_string(*m.wbps);
                if (m.riops) line += " riops=" + std::to_string(*m.riops);
                if (m.wiops) line += " wiops=" + std::to_string(*m.wiops);
                b.write("io", "io.max", line);
            }
        }
    }
    for (const auto& [size, limit] : r.hugetlb) {
        std::string s = hugepage_size(size);
        if (b.need("hugetlb", "--hugetlb") == Version::V1) b.write("hugetlb", "hugetlb." + s + ".limit_in_bytes", std::to_string(limit));
        else b.write("hugetlb", "hugetlb." + s + ".max", std::to_string(limit));
    }
    for (const auto& [dev, limits] : r.rdma) {
        b.need("rdma", "--rdma");
        b.write("rdma", "rdma.max", dev + " " + limits);
    }
    for (const auto& [res, limit] : r.misc) {
        b.need("misc", "--misc");
        b.write("misc", "misc.max", res + " " + std::to_string(limit));
    }
    if (!r.devices.empty()) {
        b.p.devices = default_devices();
        b.p.devices.insert(b.p.devices.end(), r.devices.begin(), r.devices.end());
        if (b.has("devices")) {
            b.need("devices", "--device-allow");
            b.write("devices", "devices.deny", "a");
            for (const auto& d : b.p.devices)
                b.write("devices", d.allow ? "devices.allow" : "devices.deny", values::device_rule_text(d));
        }
        // On v2 the rules become a BPF_PROG_TYPE_CGROUP_DEVICE program (mech/device_filter).
    }
    // Accounting and control without limits: CPU use for the report, the freezer for a
    // kill that no fork can outrun (v1; v2 has both built in), perf_event for `perf -G`.
    for (const char* c : {"cpuacct", "freezer", "perf_event"}) b.join(c);
    return b.p;
}

}  // namespace caisson::cgroup_plan
