#include "oci/resources.hpp"

#include "policy/values.hpp"

#include <caisson/error.hpp>
#include <caisson/oci.hpp>

#include <algorithm>

namespace caisson::oci {
namespace {

// OCI's -1 (and, for pids, 0) is "no limit".
std::optional<uint64_t> limit(const std::optional<int64_t>& v) {
    if (!v) return std::nullopt;
    return *v < 0 ? kUnlimited : static_cast<uint64_t>(*v);
}

}  // namespace

caisson::Resources translate_resources(const Resources& o) {
    caisson::Resources r;
    r.oom_kill_group = false;  // only where the config asks (linux.resources.unified)
    const auto& m = o.memory;
    r.memory = limit(m.limit);
    r.memory_swap = limit(m.swap);
    r.memory_low = limit(m.reservation);
    r.memory_swappiness = m.swappiness;
    r.memory_oom_killer_off = m.disable_oom_killer.value_or(false);
    r.memory_kernel_tcp = limit(m.kernel_tcp);  // kernel (kmem) limits are gone from Linux (5.16); runc ignores them too

    const auto& c = o.cpu;
    r.cpu_shares = c.shares;
    r.cpu_quota_us = limit(c.quota);
    r.cpu_period_us = c.period;
    if (c.burst && *c.burst < 0) throw Error::usage("config.json: linux.resources.cpu.burst: must not be negative");
    if (c.burst) r.cpu_burst_us = static_cast<uint64_t>(*c.burst);
    r.cpu_rt_runtime_us = limit(c.realtime_runtime);
    r.cpu_rt_period_us = c.realtime_period;
    r.cpu_idle = c.idle;
    r.cpuset_cpus = c.cpus;
    r.cpuset_mems = c.mems;
    // 0 and -1 are "no limit", as runc reads them.
    if (o.pids_limit) r.pids = *o.pids_limit > 0 ? static_cast<uint64_t>(*o.pids_limit) : kUnlimited;

    // 0 is "not set" to runc (Docker sends it): only the other values are weights.
    const auto& io = o.block_io;
    if (io.weight && *io.weight) r.blkio_weight = io.weight;
    if (io.leaf_weight && *io.leaf_weight) r.blkio_leaf_weight = io.leaf_weight;
    for (const auto& d : io.weight_device)
        if (d.weight && *d.weight)
            r.blkio_weight_devices.push_back({static_cast<uint32_t>(d.major), static_cast<uint32_t>(d.minor), *d.weight});
    auto throttle = [&](const std::vector<ThrottleDevice>& list, std::optional<uint64_t> IoMax::*key) {
        for (const auto& d : list) {
            IoMax x;
            x.major = static_cast<uint32_t>(d.major);
            x.minor = static_cast<uint32_t>(d.minor);
            x.*key = d.rate;  // 0: no limit
            r.io_max.push_back(x);
        }
    };
    throttle(io.read_bps, &IoMax::rbps);
    throttle(io.write_bps, &IoMax::wbps);
    throttle(io.read_iops, &IoMax::riops);
    throttle(io.write_iops, &IoMax::wiops);

    r.hugetlb.assign(o.hugepage_limits.begin(), o.hugepage_limits.end());
    r.net_cls_classid = o.network.class_id;
    r.net_prio = o.network.priorities;
    for (const auto& [dev, limits] : o.rdma) {
        std::string line;
        for (const auto& [k, v] : limits) {
            if (k != "hcaHandles" && k != "hcaObjects")
                throw Error::usage("config.json: linux.resources.rdma." + dev + "." + k + ": unknown limit");
            line += std::string(line.empty() ? "" : " ") + (k == "hcaHandles" ? "hca_handle=" : "hca_object=") + std::to_string(v);
        }
        r.rdma.emplace_back(dev, line);
    }
    r.unified = o.unified;
    for (const auto& d : o.devices)
        r.devices.push_back({d.allow, d.type.empty() ? 'a' : d.type[0], d.major.value_or(-1), d.minor.value_or(-1), d.access});
    return r;
}

cgroup_plan::Plan plan_resources(const Resources& r, const std::map<std::string, cgroup_plan::Version>& where, bool update) {
    cgroup_plan::Options o;
    o.spelling = cgroup_plan::Spelling::OciConfig;
    o.join_all = !update;
    o.update = update;
    return cgroup_plan::plan(translate_resources(r), where, o);
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

long long parse_size(const std::string& text, const std::string& field) {
    if (text == "-1") return -1;  // runc's "no limit"
    return static_cast<long long>(values::parse_size(text, field));
}

}  // namespace caisson::oci
