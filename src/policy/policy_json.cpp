#include "policy/policy_json.hpp"

#include "policy/host_rules.hpp"
#include "policy/net_address.hpp"

#include "policy/values.hpp"

#include <nlohmann/json.hpp>

namespace caisson {
namespace {

using nlohmann::ordered_json;

const char* kind_name(MountKind k) {
    switch (k) {
        case MountKind::Bind: return "bind";
        case MountKind::RoBind: return "ro-bind";
        case MountKind::Tmpfs: return "tmpfs";
        case MountKind::Symlink: return "symlink";
        case MountKind::Dir: return "dir";
    }
    return "?";
}

}  // namespace

std::string policy_to_json(const Policy& p) {
    ordered_json j;
    j["profiles"] = p.profiles;
    const auto& n = p.namespaces;
    j["namespaces"] = {{"user", n.user}, {"pid", n.pid},       {"mount", n.mount},
                       {"net", n.net},   {"uts", n.uts},       {"ipc", n.ipc},
                       {"cgroup", n.cgroup}, {"time", n.time}};
    if (!n.net_path.empty()) j["namespaces"]["net_join"] = n.net_path;
    j["hostname"] = p.hostname;
    j["time_offsets"] = {{"monotonic", p.time_offsets.monotonic_s},
                         {"boottime", p.time_offsets.boottime_s}};
    ordered_json id = {{"uid", p.identity.uid}, {"gid", p.identity.gid},
                       {"map_host_root", p.identity.map_host_root}};
    id["host_uid"] = p.identity.host_uid ? ordered_json(*p.identity.host_uid) : ordered_json("default");
    id["host_gid"] = p.identity.host_gid ? ordered_json(*p.identity.host_gid) : ordered_json("default");
    j["identity"] = id;
    ordered_json mounts = ordered_json::array();
    for (const auto& m : p.fs.mounts) {
        ordered_json e = {{"kind", kind_name(m.kind)}, {"target", m.target}};
        if (!m.source.empty()) e["source"] = m.source;
        if (m.size) e["size"] = m.size;
        mounts.push_back(e);
    }
    j["filesystem"] = {{"rootfs", p.fs.rootfs},
                       {"writable_root", p.fs.writable_root},
                       {"overlay", p.fs.overlay},
                       {"overlay_size", p.fs.overlay_size},
                       {"overlay_upper", p.fs.overlay_upper},
                       {"tmp_size", p.fs.tmp_size},
                       {"host_run", p.fs.host_run},
                       {"host_homes", p.fs.host_homes},
                       {"home", p.fs.home},
                       {"home_masks", p.fs.home_masks},
                       {"workdir", p.fs.workdir},
                       {"mounts", mounts},
                       {"masked_paths", p.fs.masked_paths},
                       {"readonly_paths", p.fs.readonly_paths}};
    if (!p.fs.device_nodes.empty()) {
        ordered_json nodes = ordered_json::array();
        for (const auto& d : p.fs.device_nodes) nodes.push_back({{"name", d.name}, {"major", d.major}, {"minor", d.minor}});
        j["filesystem"]["device_nodes"] = nodes;
    }
    ordered_json env = ordered_json::array();
    for (const auto& e : p.process.env)
        env.push_back(e.value ? ordered_json{{"set", e.name}, {"value", *e.value}}
                              : ordered_json{{"unset", e.name}});
    ordered_json rl = ordered_json::object();
    for (const auto& r : p.process.rlimits)
        rl[values::rlimit_name(r.resource)] = {{"soft", values::rlimit_value_text(r.soft)},
                                               {"hard", values::rlimit_value_text(r.hard)}};
    j["process"] = {{"argv", p.process.argv},
                    {"cwd", p.process.cwd},
                    {"keep_env", p.process.keep_env},
                    {"env", env},
                    {"pass_fds", p.process.pass_fds},
                    {"tty", p.process.tty},
                    {"die_with_parent", p.process.die_with_parent},
                    {"time_limit_s", p.process.time_limit_s},
                    {"rlimits", rl}};
    ordered_json caps = ordered_json::array();
    for (int cap : p.capabilities) caps.push_back(values::capability_name(cap));
    j["capabilities"] = caps;
    ordered_json rules = ordered_json::array();
    for (const auto& r : p.seccomp.rules) {
        ordered_json rule = {{"syscalls", r.syscalls}, {"action", seccomp::action_text(r.action)}};
        if (r.conditional) rule["if"] = r.when_text;
        rules.push_back(rule);
    }
    ordered_json abis = ordered_json::array();
    for (auto abi : p.seccomp.abis) abis.push_back(seccomp::abi_name(abi));
    // Every part that decides: a pool compares policies by this text.
    ordered_json supervised = ordered_json::array();
    for (const auto& s : p.seccomp.supervised) {
        ordered_json e = {{"syscalls", s.syscalls}, {"then", seccomp::action_text(s.then)}};
        if (s.max) e["max"] = *s.max;
        if (s.rate) e["rate"] = *s.rate;
        if (!s.before.empty()) e["before"] = s.before;
        if (!s.after.empty()) e["after"] = s.after;
        supervised.push_back(e);
    }
    ordered_json open = nullptr;
    if (p.seccomp.open.enabled()) {
        ordered_json path_rules = ordered_json::array();
        for (const auto& r : p.seccomp.open.rules)
            path_rules.push_back({{"paths", r.paths}, {"access", static_cast<int>(r.access)}, {"action", seccomp::action_text(r.action)}});
        open = {{"rules", path_rules}, {"default", seccomp::action_text(p.seccomp.open.otherwise)}};
    }
    j["seccomp"] = {{"name", p.seccomp.name},
                    {"filter", p.seccomp.mode == seccomp::Mode::Filter},
                    {"default", seccomp::action_text(p.seccomp.default_action)},
                    {"abi", abis},
                    {"rules", rules},
                    {"supervise", supervised},
                    {"open", open}};
    const auto& l = p.landlock;
    ordered_json paths = ordered_json::array();
    for (const auto& lp : l.paths)
        paths.push_back({{"path", lp.path},
                         {"access", lp.access == LandlockAccess::Read       ? "ro"
                                    : lp.access == LandlockAccess::ReadExec ? "rx"
                                    : lp.access == LandlockAccess::ListDir  ? "list"
                                                                            : "rw"}});
    j["landlock"] = {{"paths", paths},
                     {"bind_ports", l.restrict_bind ? ordered_json(l.bind_ports) : ordered_json(nullptr)},
                     {"connect_ports", l.restrict_connect ? ordered_json(l.connect_ports) : ordered_json(nullptr)},
                     {"scope_abstract_unix", l.scope_abstract_unix},
                     {"scope_signal", l.scope_signal},
                     {"best_effort", l.best_effort}};
    if (p.egress.enabled()) {
        // Each destination as one canonical text: what the programs will compare.
        auto listed = [](const std::vector<NetDestination>& ds) {
            ordered_json out = ordered_json::array();
            for (const auto& d : ds) {
                std::string port = d.port_lo == 0 && d.port_hi == 65535 ? "*"
                                   : d.port_lo == d.port_hi             ? std::to_string(d.port_lo)
                                                            : std::to_string(d.port_lo) + "-" + std::to_string(d.port_hi);
                std::string where = net_address::endpoint_text(d.v6, d.addr.data(), 0);
                where = where.substr(0, where.rfind(':'));
                out.push_back(where + "/" + std::to_string(d.prefix) + " port " + port);
            }
            return out;
        };
        j["egress"] = {{"allow", listed(p.egress.allow)},
                       {"deny", listed(p.egress.deny)},
                       {"otherwise", p.egress.default_deny() ? "deny" : "allow"}};
    }
    // Resources: only what is set (an unset field is not limited, apart from the ceilings).
    const Resources& r = p.resources;
    ordered_json res = ordered_json::object();
    auto opt = [&](const char* key, const auto& v) {
        if (v) res[key] = *v;
    };
    auto unlimited = [&](const char* key, const std::optional<uint64_t>& v) {
        if (v) res[key] = *v == kUnlimited ? ordered_json("unlimited") : ordered_json(*v);
    };
    unlimited("memory", r.memory);
    unlimited("memory_swap", r.memory_swap);
    opt("cpus", r.cpus);
    opt("cpu_weight", r.cpu_weight);
    unlimited("pids", r.pids);
    opt("io_weight", r.io_weight);
    if (!r.cpuset_cpus.empty()) res["cpuset_cpus"] = r.cpuset_cpus;
    if (!r.cpuset_mems.empty()) res["cpuset_mems"] = r.cpuset_mems;
    for (const auto& io : r.io_max) {
        ordered_json e = {{"device", std::to_string(io.major) + ":" + std::to_string(io.minor)}};
        if (io.rbps) e["rbps"] = *io.rbps;
        if (io.wbps) e["wbps"] = *io.wbps;
        if (io.riops) e["riops"] = *io.riops;
        if (io.wiops) e["wiops"] = *io.wiops;
        res["io_max"].push_back(e);
    }
    for (const auto& [size, bytes] : r.hugetlb) res["hugetlb"][size] = bytes;
    for (const auto& [dev, limits] : r.rdma) res["rdma"][dev] = limits;
    for (const auto& [name, n] : r.misc) res["misc"][name] = n;
    for (const auto& d : r.devices)
        res["devices"].push_back(std::string(d.allow ? "allow " : "deny ") + d.type + " " +
                                 (d.major < 0 ? "*" : std::to_string(d.major)) + ":" + (d.minor < 0 ? "*" : std::to_string(d.minor)) +
                                 " " + d.access);
    unlimited("memory_low", r.memory_low);
    opt("memory_swappiness", r.memory_swappiness);
    if (r.memory_oom_killer_off) res["memory_oom_killer_off"] = true;
    unlimited("memory_kernel_tcp", r.memory_kernel_tcp);
    opt("cpu_shares", r.cpu_shares);
    unlimited("cpu_quota_us", r.cpu_quota_us);
    opt("cpu_period_us", r.cpu_period_us);
    unlimited("cpu_burst_us", r.cpu_burst_us);
    unlimited("cpu_rt_runtime_us", r.cpu_rt_runtime_us);
    opt("cpu_rt_period_us", r.cpu_rt_period_us);
    opt("cpu_idle", r.cpu_idle);
    opt("blkio_weight", r.blkio_weight);
    opt("blkio_leaf_weight", r.blkio_leaf_weight);
    for (const auto& d : r.blkio_weight_devices)
        res["blkio_weight_devices"].push_back(std::to_string(d.major) + ":" + std::to_string(d.minor) + " " + std::to_string(d.weight));
    opt("net_cls_classid", r.net_cls_classid);
    for (const auto& [iface, prio] : r.net_prio) res["net_prio"][iface] = prio;
    for (const auto& [file, value] : r.unified) res["unified"][file] = value;
    res["oom_kill_group"] = r.oom_kill_group;
    if (!r.cgroup_parent.empty()) res["cgroup_parent"] = r.cgroup_parent;
    if (r.cgroup) res["cgroup"] = true;
    j["resources"] = res;
    const Network& net = p.network;
    ordered_json network = {{"mode", !p.namespaces.net ? (p.namespaces.net_path.empty() ? "host" : "ns:" + p.namespaces.net_path)
                                      : net.kind == Network::Kind::Veth ? "veth"
                                      : net.kind == Network::Kind::User ? "user"
                                                                        : "none"}};
    if (net.kind == Network::Kind::Veth) network["bridge"] = net.bridge, network["subnet"] = net.subnet;
    for (const auto& m : net.publish)
        network["publish"].push_back(std::string(m.udp ? "udp:" : "tcp:") + std::to_string(m.host_port) + ":" +
                                     std::to_string(m.sandbox_port));
    for (const auto& h : net.allow_hosts) network["allow_hosts"].push_back(host_rules::text(h));
    j["network"] = network;
    if (p.bpf_lsm.enabled()) {
        ordered_json lsm = {{"deny_files", p.bpf_lsm.deny_files}, {"connect_ports", p.bpf_lsm.connect_ports},
                            {"best_effort", p.bpf_lsm.best_effort}};
        if (p.bpf_lsm.exec_max) lsm["exec_max"] = *p.bpf_lsm.exec_max;
        j["bpf_lsm"] = lsm;
    }
    auto limit = [](const std::optional<uint64_t>& v) { return v ? ordered_json(*v) : ordered_json("unlimited"); };
    const Ceilings& c = p.ceilings;
    j["ceilings"] = {{"pids", limit(c.pids)},
                     {"memory", limit(c.memory)},
                     {"open_files", limit(c.open_files)},
                     {"inotify_instances", limit(c.inotify_instances)},
                     {"inotify_watches", limit(c.inotify_watches)}};
    j["report"] = p.report_path;
    if (p.monitor) j["monitor"] = true;
    if (p.vm.enabled) j["vm"] = {{"kernel", p.vm.kernel}};
    return j.dump(2);
}

}  // namespace caisson
