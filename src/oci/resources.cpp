#include "oci/resources.hpp"

#include "policy/values.hpp"

#include <caisson/error.hpp>

#include <algorithm>

namespace caisson::oci {
namespace {

using cgroup_plan::Version;

class Planner {
public:
    explicit Planner(const std::map<std::string, Version>& where) : where_(where) {}
    // The version serving `controller`, or an error naming the field.
    Version need(const std::string& controller, const std::string& field) {
        auto it = where_.find(controller);
        if (it == where_.end())
            throw Error::usage("config.json: " + field + ": this host has no " + controller + " cgroup controller");
        join(controller);
        return it->second;
    }
    void join(const std::string& c) {
        if (std::find(p.controllers.begin(), p.controllers.end(), c) == p.controllers.end()) p.controllers.push_back(c);
    }
    void write(const std::string& controller, const std::string& file, const std::string& value) {
        p.writes.push_back({controller, file, value});
        p.limits.push_back(file + "=" + value);
    }
    cgroup_plan::Plan p;

private:
    const std::map<std::string, Version>& where_;
};

std::string dev(int64_t major, int64_t minor) { return std::to_string(major) + ":" + std::to_string(minor); }

[[noreturn]] void v2_lacks(const std::string& field) {
    throw Error::usage("config.json: " + field + ": has no cgroup v2 equivalent (this host serves the controller on v2)");
}

}  // namespace

cgroup_plan::Plan plan_resources(const Resources& r, const std::map<std::string, Version>& where, bool join_all) {
    Planner b(where);
    if (join_all)
        for (const auto& [c, v] : where) b.join(c);
    const std::string f = "linux.resources";

    const auto& m = r.memory;
    if (m.limit || m.swap || m.reservation || m.swappiness || m.disable_oom_killer || m.kernel || m.kernel_tcp) {
        Version v = b.need("memory", f + ".memory");
        auto limit_text = [&](int64_t x) { return x < 0 ? std::string(v == Version::V1 ? "-1" : "max") : std::to_string(x); };
        if (m.limit) b.write("memory", v == Version::V1 ? "memory.limit_in_bytes" : "memory.max", limit_text(*m.limit));
        if (m.swap) {
            if (v == Version::V1) {
                b.write("memory", "memory.memsw.limit_in_bytes", limit_text(*m.swap));
            } else if (*m.swap < 0) {
                b.write("memory", "memory.swap.max", "max");
            } else {
                // OCI's swap is memory plus swap, v2's swap.max is swap alone.
                if (!m.limit || *m.limit < 0 || *m.swap < *m.limit)
                    throw Error::usage("config.json: " + f + ".memory.swap: needs a memory limit no larger than it");
                b.write("memory", "memory.swap.max", std::to_string(*m.swap - *m.limit));
            }
        }
        if (m.reservation) b.write("memory", v == Version::V1 ? "memory.soft_limit_in_bytes" : "memory.low", limit_text(*m.reservation));
        if (m.swappiness) {
            if (*m.swappiness > 100) throw Error::usage("config.json: " + f + ".memory.swappiness: must be 0 to 100");
            if (v == Version::V2) v2_lacks(f + ".memory.swappiness");
            b.write("memory", "memory.swappiness", std::to_string(*m.swappiness));
        }
        if (m.disable_oom_killer && *m.disable_oom_killer) {
            if (v == Version::V2) v2_lacks(f + ".memory.disableOOMKiller");
            b.write("memory", "memory.oom_control", "1");
        }
        // Kernel memory limits are gone from Linux (5.16); runc ignores them too.
        if (m.kernel_tcp) {
            if (v == Version::V2) v2_lacks(f + ".memory.kernelTCP");
            b.write("memory", "memory.kmem.tcp.limit_in_bytes", limit_text(*m.kernel_tcp));
        }
    }

    const auto& c = r.cpu;
    if (c.shares || c.quota || c.period || c.burst || c.realtime_runtime || c.realtime_period || c.idle) {
        Version v = b.need("cpu", f + ".cpu");
        if (v == Version::V1) {
            if (c.shares) b.write("cpu", "cpu.shares", std::to_string(*c.shares));
            if (c.period) b.write("cpu", "cpu.cfs_period_us", std::to_string(*c.period));
            if (c.quota) b.write("cpu", "cpu.cfs_quota_us", std::to_string(*c.quota));
            if (c.burst) b.write("cpu", "cpu.cfs_burst_us", std::to_string(*c.burst));
            if (c.realtime_period) b.write("cpu", "cpu.rt_period_us", std::to_string(*c.realtime_period));
            if (c.realtime_runtime) b.write("cpu", "cpu.rt_runtime_us", std::to_string(*c.realtime_runtime));
            if (c.idle) b.write("cpu", "cpu.idle", std::to_string(*c.idle));
        } else {
            // runc's conversion of v1 shares (2..262144) to v2 weight (1..10000).
            if (c.shares && *c.shares)
                b.write("cpu", "cpu.weight", std::to_string(1 + ((std::clamp<uint64_t>(*c.shares, 2, 262144) - 2) * 9999) / 262142));
            if (c.quota || c.period) {
                std::string quota = !c.quota || *c.quota < 0 ? "max" : std::to_string(*c.quota);
                b.write("cpu", "cpu.max", quota + " " + std::to_string(c.period.value_or(100000)));
            }
            if (c.burst) b.write("cpu", "cpu.max.burst", std::to_string(*c.burst));
            if (c.idle) b.write("cpu", "cpu.idle", std::to_string(*c.idle));
            if (c.realtime_runtime || c.realtime_period) v2_lacks(f + ".cpu.realtimeRuntime");
        }
    }
    if (!c.cpus.empty() || !c.mems.empty()) {
        b.need("cpuset", f + ".cpu.cpus");
        if (!c.cpus.empty()) {
            values::parse_cpu_list(c.cpus, "linux.resources.cpu.cpus");
            b.write("cpuset", "cpuset.cpus", c.cpus);
        }
        if (!c.mems.empty()) {
            values::parse_cpu_list(c.mems, "linux.resources.cpu.mems");
            b.write("cpuset", "cpuset.mems", c.mems);
        }
    }

    if (r.pids_limit) {
        b.need("pids", f + ".pids.limit");
        // 0 and -1 are "no limit", as runc reads them.
        b.write("pids", "pids.max", *r.pids_limit > 0 ? std::to_string(*r.pids_limit) : "max");
    }

    // 0 is "not set" to runc (Docker sends it): only the other values are weights.
    auto io = r.block_io;
    if (io.weight == 0) io.weight.reset();
    if (io.leaf_weight == 0) io.leaf_weight.reset();
    bool any_io = io.weight || io.leaf_weight || !io.weight_device.empty() || !io.read_bps.empty() ||
                  !io.write_bps.empty() || !io.read_iops.empty() || !io.write_iops.empty();
    if (any_io) {
        Version v = b.need(where.count("blkio") ? "blkio" : "io", f + ".blockIO");
        std::string ctl = v == Version::V1 ? "blkio" : "io";
        auto weight = [&](uint16_t w, const std::string& field) {
            if (w < 10 || w > 1000) throw Error::usage("config.json: " + field + ": must be 10 to 1000");
            return v == Version::V1 ? std::to_string(w) : std::to_string(1 + (static_cast<unsigned>(w) - 10) * 9999 / 990);
        };
        if (io.weight) {
            std::string w = weight(*io.weight, f + ".blockIO.weight");
            b.write(ctl, v == Version::V1 ? "blkio.weight" : "io.weight", v == Version::V1 ? w : "default " + w);
        }
        if (io.leaf_weight) {
            if (v == Version::V2) v2_lacks(f + ".blockIO.leafWeight");
            b.write(ctl, "blkio.leaf_weight", weight(*io.leaf_weight, f + ".blockIO.leafWeight"));
        }
        for (const auto& d : io.weight_device) {
            if (!d.weight || *d.weight == 0) continue;
            std::string w = weight(*d.weight, f + ".blockIO.weightDevice");
            b.write(ctl, v == Version::V1 ? "blkio.weight_device" : "io.weight", dev(d.major, d.minor) + " " + w);
        }
        auto throttle = [&](const std::vector<ThrottleDevice>& list, const char* v1file, const char* v2key) {
            for (const auto& d : list) {
                if (v == Version::V1) b.write(ctl, v1file, dev(d.major, d.minor) + " " + std::to_string(d.rate));
                else b.write(ctl, "io.max", dev(d.major, d.minor) + " " + v2key + "=" + (d.rate ? std::to_string(d.rate) : "max"));
            }
        };
        throttle(io.read_bps, "blkio.throttle.read_bps_device", "rbps");
        throttle(io.write_bps, "blkio.throttle.write_bps_device", "wbps");
        throttle(io.read_iops, "blkio.throttle.read_iops_device", "riops");
        throttle(io.write_iops, "blkio.throttle.write_iops_device", "wiops");
    }

    for (const auto& [size, limit] : r.hugepage_limits) {
        Version v = b.need("hugetlb", f + ".hugepageLimits");
        if (size.empty() || size.find('/') != std::string::npos || size.find("..") != std::string::npos)
            throw Error::usage("config.json: " + f + ".hugepageLimits: bad pageSize \"" + size + "\"");
        b.write("hugetlb", "hugetlb." + size + (v == Version::V1 ? ".limit_in_bytes" : ".max"), std::to_string(limit));
    }

    if (r.network.class_id) {
        if (b.need("net_cls", f + ".network.classID") == Version::V2) v2_lacks(f + ".network.classID");
        b.write("net_cls", "net_cls.classid", std::to_string(*r.network.class_id));
    }
    for (const auto& [iface, prio] : r.network.priorities) {
        if (b.need("net_prio", f + ".network.priorities") == Version::V2) v2_lacks(f + ".network.priorities");
        b.write("net_prio", "net_prio.ifpriomap", iface + " " + std::to_string(prio));
    }

    for (const auto& [devname, limits] : r.rdma) {
        b.need("rdma", f + ".rdma");
        std::string line = devname;
        for (const auto& [k, val] : limits) {
            if (k != "hcaHandles" && k != "hcaObjects") throw Error::usage("config.json: " + f + ".rdma." + devname + "." + k + ": unknown limit");
            line += std::string(k == "hcaHandles" ? " hca_handle=" : " hca_object=") + std::to_string(val);
        }
        b.write("rdma", "rdma.max", line);
    }

    for (const auto& [file, value] : r.unified) {
        std::string field = f + ".unified." + file;
        if (file.empty() || file.find('/') != std::string::npos || file.find("..") != std::string::npos)
            throw Error::usage("config.json: " + field + ": bad file name");
        std::string controller = file.substr(0, file.find('.'));
        if (controller == "cgroup") {
            b.write("", file, value);
            continue;
        }
        auto it = where.find(controller);
        if (it == where.end() || it->second != Version::V2)
            throw Error::usage("config.json: " + field + ": the " + controller + " controller is not on cgroup v2 here");
        b.join(controller);
        b.write(controller, file, value);
    }

    if (!r.devices.empty()) {
        for (const auto& d : r.devices) {
            DeviceRule rule;
            rule.allow = d.allow;
            rule.type = d.type.empty() ? 'a' : d.type[0];
            rule.major = d.major.value_or(-1);
            rule.minor = d.minor.value_or(-1);
            rule.access = d.access;
            b.p.devices.push_back(rule);
        }
        if (where.count("devices") && where.at("devices") == Version::V1) {
            b.join("devices");
            for (const auto& d : b.p.devices) {
                // "a" with a device number would be refused: "a" means every device.
                std::string text = d.type == 'a' ? "a" : values::device_rule_text(d);
                b.p.writes.push_back({"devices", d.allow ? "devices.allow" : "devices.deny", text});
            }
        }
    }
    return b.p;
}

std::pair<std::string, std::string> cgroup_location(const std::string& path, const std::string& id) {
    if (path.empty()) return {"caisson", id};
    if (path.find(':') != std::string::npos && path[0] != '/')
        throw Error::usage("config.json: linux.cgroupsPath: \"" + path +
                           "\" is systemd's slice:prefix:name form; caisson-oci drives cgroupfs paths only");
    std::string p = path;
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty()) throw Error::usage("config.json: linux.cgroupsPath: \"" + path + "\" names the root cgroup");
    for (size_t start = 0; start <= p.size();) {
        size_t end = p.find('/', start);
        if (end == std::string::npos) end = p.size();
        std::string part = p.substr(start, end - start);
        if (part.empty() || part == "." || part == "..")
            throw Error::usage("config.json: linux.cgroupsPath: \"" + path + "\" has an empty, . or .. component");
        start = end + 1;
    }
    auto slash = p.rfind('/');
    if (slash == std::string::npos) return {"", p};
    return {p.substr(0, slash), p.substr(slash + 1)};
}

}  // namespace caisson::oci
