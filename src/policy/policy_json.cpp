#include "policy/policy_json.hpp"

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
                       {"mounts", mounts},
                       {"masked_paths", p.fs.masked_paths},
                       {"readonly_paths", p.fs.readonly_paths}};
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
    j["report"] = p.report_path;
    return j.dump(2);
}

}  // namespace caisson
