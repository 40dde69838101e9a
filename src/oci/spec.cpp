#include "oci/spec.hpp"

#include <caisson/error.hpp>

#include <sys/capability.h>

#include <algorithm>

namespace caisson::oci {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& field, const std::string& what) {
    throw Error::usage("config.json: " + field + ": " + what);
}

const char* kind(const json& v) {
    switch (v.type()) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::null: return "null";
    default: return "a number";
    }
}

// Typed access that names the field: "linux.resources.memory.limit: expected an integer".
std::string str(const json& v, const std::string& field) {
    if (!v.is_string()) bad(field, std::string("expected a string, found ") + kind(v));
    return v.get<std::string>();
}
bool boolean(const json& v, const std::string& field) {
    if (!v.is_boolean()) bad(field, std::string("expected true or false, found ") + kind(v));
    return v.get<bool>();
}
int64_t integer(const json& v, const std::string& field) {
    if (v.is_number_unsigned()) {
        if (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) bad(field, "out of range");
        return static_cast<int64_t>(v.get<uint64_t>());
    }
    if (!v.is_number_integer()) bad(field, std::string("expected an integer, found ") + kind(v));
    return v.get<int64_t>();
}
uint64_t unsigned64(const json& v, const std::string& field) {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    // A document built in memory (not parsed) holds small numbers as signed.
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
    if (v.is_number_integer()) bad(field, "expected a non-negative integer");
    bad(field, std::string("expected an integer, found ") + kind(v));
}
uint32_t unsigned32(const json& v, const std::string& field) {
    uint64_t x = unsigned64(v, field);
    if (x > UINT32_MAX) bad(field, "out of range (32 bits)");
    return static_cast<uint32_t>(x);
}
std::vector<std::string> strings(const json& v, const std::string& field) {
    if (!v.is_array()) bad(field, std::string("expected an array of strings, found ") + kind(v));
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) out.push_back(str(v[i], field + "[" + std::to_string(i) + "]"));
    return out;
}
const json& object(const json& v, const std::string& field) {
    if (!v.is_object()) bad(field, std::string("expected an object, found ") + kind(v));
    return v;
}
const json& array(const json& v, const std::string& field) {
    if (!v.is_array()) bad(field, std::string("expected an array, found ") + kind(v));
    return v;
}
std::map<std::string, std::string> string_map(const json& v, const std::string& field) {
    std::map<std::string, std::string> out;
    for (const auto& [k, x] : object(v, field).items()) out[k] = str(x, field + "." + k);
    return out;
}
// A present, non-null member.
const json* member(const json& o, const char* key) {
    auto it = o.find(key);
    return it == o.end() || it->is_null() ? nullptr : &*it;
}

std::vector<IdMapping> id_mappings(const json& v, const std::string& field) {
    std::vector<IdMapping> out;
    for (size_t i = 0; i < array(v, field).size(); ++i) {
        std::string f = field + "[" + std::to_string(i) + "]";
        const json& m = object(v[i], f);
        IdMapping x;
        if (!member(m, "containerID") || !member(m, "hostID") || !member(m, "size")) bad(f, "needs containerID, hostID and size");
        x.container_id = unsigned32(m["containerID"], f + ".containerID");
        x.host_id = unsigned32(m["hostID"], f + ".hostID");
        x.size = unsigned32(m["size"], f + ".size");
        out.push_back(x);
    }
    return out;
}

std::vector<Hook> hooks(const json& v, const std::string& field) {
    std::vector<Hook> out;
    for (size_t i = 0; i < array(v, field).size(); ++i) {
        std::string f = field + "[" + std::to_string(i) + "]";
        const json& h = object(v[i], f);
        Hook x;
        if (!member(h, "path")) bad(f, "a hook needs a path");
        x.path = str(h["path"], f + ".path");
        if (x.path.empty() || x.path[0] != '/') bad(f + ".path", "must be absolute: " + x.path);
        if (auto* a = member(h, "args")) x.args = strings(*a, f + ".args");
        if (auto* e = member(h, "env")) x.env = strings(*e, f + ".env");
        if (auto* t = member(h, "timeout")) {
            int64_t s = integer(*t, f + ".timeout");
            if (s <= 0) bad(f + ".timeout", "must be greater than zero");
            x.timeout = static_cast<int>(std::min<int64_t>(s, INT32_MAX));
        }
        out.push_back(std::move(x));
    }
    return out;
}

CapabilitySets capabilities(const json& v, const std::string& field) {
    CapabilitySets c;
    const json& o = object(v, field);
    auto set = [&](const char* key, uint64_t& bits) {
        if (auto* s = member(o, key)) bits = capability_bits(strings(*s, field + "." + key), field + "." + key);
    };
    set("bounding", c.bounding);
    set("effective", c.effective);
    set("inheritable", c.inheritable);
    set("permitted", c.permitted);
    set("ambient", c.ambient);
    return c;
}

Resources resources(const json& v, const std::string& field) {
    Resources r;
    const json& o = object(v, field);
    if (auto* d = member(o, "devices")) {
        for (size_t i = 0; i < array(*d, field + ".devices").size(); ++i) {
            std::string f = field + ".devices[" + std::to_string(i) + "]";
            const json& x = object((*d)[i], f);
            DeviceCgroup dc;
            if (!member(x, "allow")) bad(f, "needs allow");
            dc.allow = boolean(x["allow"], f + ".allow");
            if (auto* t = member(x, "type")) dc.type = str(*t, f + ".type");
            if (dc.type != "a" && dc.type != "c" && dc.type != "b") bad(f + ".type", "must be a, c or b: " + dc.type);
            if (auto* m = member(x, "major")) dc.major = integer(*m, f + ".major");
            if (auto* m = member(x, "minor")) dc.minor = integer(*m, f + ".minor");
            if (auto* a = member(x, "access")) dc.access = str(*a, f + ".access");
            if (dc.access.empty()) dc.access = "rwm";
            if (dc.access.find_first_not_of("rwm") != std::string::npos) bad(f + ".access", "only r, w and m: " + dc.access);
            r.devices.push_back(dc);
        }
    }
    if (auto* m = member(o, "memory")) {
        std::string f = field + ".memory";
        const json& x = object(*m, f);
        auto i64 = [&](const char* k, std::optional<int64_t>& out) {
            if (auto* y = member(x, k)) out = integer(*y, f + "." + k);
        };
        i64("limit", r.memory.limit);
        i64("reservation", r.memory.reservation);
        i64("swap", r.memory.swap);
        i64("kernel", r.memory.kernel);
        i64("kernelTCP", r.memory.kernel_tcp);
        if (auto* y = member(x, "swappiness")) r.memory.swappiness = unsigned64(*y, f + ".swappiness");
        if (auto* y = member(x, "disableOOMKiller")) r.memory.disable_oom_killer = boolean(*y, f + ".disableOOMKiller");
        if (auto* y = member(x, "useHierarchy")) r.memory.use_hierarchy = boolean(*y, f + ".useHierarchy");
        if (auto* y = member(x, "checkBeforeUpdate")) r.memory.check_before_update = boolean(*y, f + ".checkBeforeUpdate");
    }
    if (auto* c = member(o, "cpu")) {
        std::string f = field + ".cpu";
        const json& x = object(*c, f);
        if (auto* y = member(x, "shares")) r.cpu.shares = unsigned64(*y, f + ".shares");
        if (auto* y = member(x, "quota")) r.cpu.quota = integer(*y, f + ".quota");
        if (auto* y = member(x, "burst")) r.cpu.burst = integer(*y, f + ".burst");
        if (auto* y = member(x, "period")) r.cpu.period = unsigned64(*y, f + ".period");
        if (auto* y = member(x, "realtimeRuntime")) r.cpu.realtime_runtime = integer(*y, f + ".realtimeRuntime");
        if (auto* y = member(x, "realtimePeriod")) r.cpu.realtime_period = unsigned64(*y, f + ".realtimePeriod");
        if (auto* y = member(x, "idle")) r.cpu.idle = integer(*y, f + ".idle");
        if (auto* y = member(x, "cpus")) r.cpu.cpus = str(*y, f + ".cpus");
        if (auto* y = member(x, "mems")) r.cpu.mems = str(*y, f + ".mems");
    }
    if (auto* p = member(o, "pids")) {
        if (auto* y = member(object(*p, field + ".pids"), "limit")) r.pids_limit = integer(*y, field + ".pids.limit");
    }
    if (auto* b = member(o, "blockIO")) {
        std::string f = field + ".blockIO";
        const json& x = object(*b, f);
        if (auto* y = member(x, "weight")) r.block_io.weight = static_cast<uint16_t>(unsigned32(*y, f + ".weight"));
        if (auto* y = member(x, "leafWeight")) r.block_io.leaf_weight = static_cast<uint16_t>(unsigned32(*y, f + ".leafWeight"));
        if (auto* y = member(x, "weightDevice")) {
            for (size_t i = 0; i < array(*y, f + ".weightDevice").size(); ++i) {
                std::string g = f + ".weightDevice[" + std::to_string(i) + "]";
                const json& d = object((*y)[i], g);
                WeightDevice w;
                w.major = integer(d.value("major", json(0)), g + ".major");
                w.minor = integer(d.value("minor", json(0)), g + ".minor");
                if (auto* z = member(d, "weight")) w.weight = static_cast<uint16_t>(unsigned32(*z, g + ".weight"));
                if (auto* z = member(d, "leafWeight")) w.leaf_weight = static_cast<uint16_t>(unsigned32(*z, g + ".leafWeight"));
                r.block_io.weight_device.push_back(w);
            }
        }
        auto throttle = [&](const char* k, std::vector<ThrottleDevice>& out) {
            auto* y = member(x, k);
            if (!y) return;
            for (size_t i = 0; i < array(*y, f + "." + k).size(); ++i) {
                std::string g = f + "." + k + "[" + std::to_string(i) + "]";
                const json& d = object((*y)[i], g);
                ThrottleDevice t;
                t.major = integer(d.value("major", json(0)), g + ".major");
                t.minor = integer(d.value("minor", json(0)), g + ".minor");
                t.rate = unsigned64(d.value("rate", json(0u)), g + ".rate");
                out.push_back(t);
            }
        };
        throttle("throttleReadBpsDevice", r.block_io.read_bps);
        throttle("throttleWriteBpsDevice", r.block_io.write_bps);
        throttle("throttleReadIOPSDevice", r.block_io.read_iops);
        throttle("throttleWriteIOPSDevice", r.block_io.write_iops);
    }
    if (auto* h = member(o, "hugepageLimits")) {
        for (size_t i = 0; i < array(*h, field + ".hugepageLimits").size(); ++i) {
            std::string g = field + ".hugepageLimits[" + std::to_string(i) + "]";
            const json& d = object((*h)[i], g);
            if (!member(d, "pageSize") || !member(d, "limit")) bad(g, "needs pageSize and limit");
            r.hugepage_limits.emplace_back(str(d["pageSize"], g + ".pageSize"), unsigned64(d["limit"], g + ".limit"));
        }
    }
    if (auto* n = member(o, "network")) {
        std::string f = field + ".network";
        const json& x = object(*n, f);
        if (auto* y = member(x, "classID")) r.network.class_id = unsigned32(*y, f + ".classID");
        if (auto* y = member(x, "priorities")) {
            for (size_t i = 0; i < array(*y, f + ".priorities").size(); ++i) {
                std::string g = f + ".priorities[" + std::to_string(i) + "]";
                const json& d = object((*y)[i], g);
                r.network.priorities.emplace_back(str(d.value("name", json("")), g + ".name"),
                                                  unsigned32(d.value("priority", json(0u)), g + ".priority"));
            }
        }
    }
    if (auto* u = member(o, "unified")) r.unified = string_map(*u, field + ".unified");
    if (auto* d = member(o, "rdma")) {
        for (const auto& [dev, lim] : object(*d, field + ".rdma").items()) {
            std::string g = field + ".rdma." + dev;
            for (const auto& [k, val] : object(lim, g).items()) r.rdma[dev][k] = unsigned32(val, g + "." + k);
        }
    }
    return r;
}

Seccomp seccomp(const json& v, const std::string& field) {
    Seccomp s;
    const json& o = object(v, field);
    if (!member(o, "defaultAction")) bad(field, "needs defaultAction");
    s.default_action = str(o["defaultAction"], field + ".defaultAction");
    if (auto* e = member(o, "defaultErrnoRet")) s.default_errno_ret = unsigned32(*e, field + ".defaultErrnoRet");
    if (auto* a = member(o, "architectures")) s.architectures = strings(*a, field + ".architectures");
    if (auto* f = member(o, "flags")) s.flags = strings(*f, field + ".flags");
    if (auto* l = member(o, "listenerPath")) s.listener_path = str(*l, field + ".listenerPath");
    if (auto* l = member(o, "listenerMetadata")) s.listener_metadata = str(*l, field + ".listenerMetadata");
    if (auto* sc = member(o, "syscalls")) {
        for (size_t i = 0; i < array(*sc, field + ".syscalls").size(); ++i) {
            std::string f = field + ".syscalls[" + std::to_string(i) + "]";
            const json& x = object((*sc)[i], f);
            SeccompSyscall call;
            if (!member(x, "names") || !member(x, "action")) bad(f, "needs names and action");
            call.names = strings(x["names"], f + ".names");
            call.action = str(x["action"], f + ".action");
            if (auto* e = member(x, "errnoRet")) call.errno_ret = unsigned32(*e, f + ".errnoRet");
            if (auto* args = member(x, "args")) {
                for (size_t k = 0; k < array(*args, f + ".args").size(); ++k) {
                    std::string g = f + ".args[" + std::to_string(k) + "]";
                    const json& a = object((*args)[k], g);
                    SeccompArg arg;
                    if (!member(a, "index") || !member(a, "value") || !member(a, "op")) bad(g, "needs index, value and op");
                    arg.index = unsigned32(a["index"], g + ".index");
                    if (arg.index > 5) bad(g + ".index", "must be 0 to 5");
                    arg.value = unsigned64(a["value"], g + ".value");
                    if (auto* two = member(a, "valueTwo")) arg.value_two = unsigned64(*two, g + ".valueTwo");
                    arg.op = str(a["op"], g + ".op");
                    call.args.push_back(arg);
                }
            }
            s.syscalls.push_back(std::move(call));
        }
    }
    return s;
}

Linux linux_section(const json& v) {
    Linux l;
    const json& o = object(v, "linux");
    if (auto* ns = member(o, "namespaces")) {
        for (size_t i = 0; i < array(*ns, "linux.namespaces").size(); ++i) {
            std::string f = "linux.namespaces[" + std::to_string(i) + "]";
            const json& x = object((*ns)[i], f);
            Namespace n;
            if (!member(x, "type")) bad(f, "needs a type");
            n.type = str(x["type"], f + ".type");
            static const std::vector<std::string> kTypes = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"};
            if (std::find(kTypes.begin(), kTypes.end(), n.type) == kTypes.end())
                bad(f + ".type", "unknown namespace type \"" + n.type + "\" (pid, network, mount, ipc, uts, user, cgroup, time)");
            if (auto* p = member(x, "path")) n.path = str(*p, f + ".path");
            for (const auto& seen : l.namespaces)
                if (seen.type == n.type) bad(f, "namespace type \"" + n.type + "\" given twice");
            l.namespaces.push_back(n);
        }
    }
    if (auto* m = member(o, "uidMappings")) l.uid_mappings = id_mappings(*m, "linux.uidMappings");
    if (auto* m = member(o, "gidMappings")) l.gid_mappings = id_mappings(*m, "linux.gidMappings");
    if (auto* t = member(o, "timeOffsets")) {
        for (const auto& [clock, off] : object(*t, "linux.timeOffsets").items()) {
            std::string f = "linux.timeOffsets." + clock;
            if (clock != "monotonic" && clock != "boottime") bad(f, "only monotonic and boottime have offsets");
            const json& x = object(off, f);
            int64_t secs = member(x, "secs") ? integer(x["secs"], f + ".secs") : 0;
            uint32_t ns = member(x, "nanosecs") ? unsigned32(x["nanosecs"], f + ".nanosecs") : 0;
            if (ns >= 1000000000u) bad(f + ".nanosecs", "must be below 1000000000");
            l.time_offsets[clock] = {secs, ns};
        }
    }
    if (auto* d = member(o, "devices")) {
        for (size_t i = 0; i < array(*d, "linux.devices").size(); ++i) {
            std::string f = "linux.devices[" + std::to_string(i) + "]";
            const json& x = object((*d)[i], f);
            Device dev;
            if (!member(x, "type") || !member(x, "path")) bad(f, "needs type and path");
            dev.type = str(x["type"], f + ".type");
            dev.path = str(x["path"], f + ".path");
            if (dev.type != "c" && dev.type != "b" && dev.type != "u" && dev.type != "p")
                bad(f + ".type", "must be c, b, u or p: " + dev.type);
            if (dev.path.empty() || dev.path[0] != '/') bad(f + ".path", "must be absolute: " + dev.path);
            while (dev.path.size() > 1 && dev.path.back() == '/') dev.path.pop_back();  // "/dev/null/" names /dev/null
            if (dev.path == "/") bad(f + ".path", "names the root");
            if (dev.type != "p" && (!member(x, "major") || !member(x, "minor"))) bad(f, "needs major and minor");
            if (auto* y = member(x, "major")) dev.major = integer(*y, f + ".major");
            if (auto* y = member(x, "minor")) dev.minor = integer(*y, f + ".minor");
            if (auto* y = member(x, "fileMode")) dev.file_mode = unsigned32(*y, f + ".fileMode");
            if (auto* y = member(x, "uid")) dev.uid = unsigned32(*y, f + ".uid");
            if (auto* y = member(x, "gid")) dev.gid = unsigned32(*y, f + ".gid");
            l.devices.push_back(dev);
        }
    }
    if (auto* c = member(o, "cgroupsPath")) l.cgroups_path = str(*c, "linux.cgroupsPath");
    if (auto* r = member(o, "resources")) l.resources = resources(*r, "linux.resources");
    if (auto* p = member(o, "rootfsPropagation")) l.rootfs_propagation = str(*p, "linux.rootfsPropagation");
    if (auto* s = member(o, "seccomp")) l.seccomp = seccomp(*s, "linux.seccomp");
    if (auto* s = member(o, "sysctl")) l.sysctl = string_map(*s, "linux.sysctl");
    if (auto* m = member(o, "maskedPaths")) l.masked_paths = strings(*m, "linux.maskedPaths");
    if (auto* m = member(o, "readonlyPaths")) l.readonly_paths = strings(*m, "linux.readonlyPaths");
    if (auto* m = member(o, "mountLabel")) l.mount_label = str(*m, "linux.mountLabel");
    if (auto* p = member(o, "personality")) {
        const json& x = object(*p, "linux.personality");
        if (!member(x, "domain")) bad("linux.personality", "needs a domain");
        l.personality_domain = str(x["domain"], "linux.personality.domain");
        if (*l.personality_domain != "LINUX" && *l.personality_domain != "LINUX32")
            bad("linux.personality.domain", "must be LINUX or LINUX32: " + *l.personality_domain);
        if (auto* fl = member(x, "flags"); fl && !strings(*fl, "linux.personality.flags").empty())
            bad("linux.personality.flags", "no flags are defined; caisson refuses unknown ones");
    }
    l.has_intel_rdt = member(o, "intelRdt") != nullptr;
    l.has_memory_policy = member(o, "memoryPolicy") != nullptr;
    l.has_net_devices = member(o, "netDevices") != nullptr && !o["netDevices"].empty();
    return l;
}

}  // namespace

json parse_json(const std::string& text, const std::string& origin) {
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        // nlohmann reports a byte offset: turn it into line:column.
        size_t line = 1, col = 1;
        for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
            if (text[i] == '\n') ++line, col = 1;
            else ++col;
        }
        std::string msg = e.what();
        if (auto p = msg.find("syntax error"); p != std::string::npos) msg = msg.substr(p);
        throw Error::usage(origin + ":" + std::to_string(line) + ":" + std::to_string(col) + ": malformed JSON: " + msg);
    } catch (const json::exception& e) {
        // A number that overflows (out_of_range 406) carries no position.
        throw Error::usage(origin + ": malformed JSON: " + e.what());
    }
}

Process parse_process(const json& v) {
    Process p;
    const json& o = object(v, "process");
    if (auto* t = member(o, "terminal")) p.terminal = boolean(*t, "process.terminal");
    if (auto* c = member(o, "consoleSize")) {
        const json& x = object(*c, "process.consoleSize");
        p.console_size = std::make_pair(unsigned32(x.value("height", json(0u)), "process.consoleSize.height"),
                                        unsigned32(x.value("width", json(0u)), "process.consoleSize.width"));
    }
    if (auto* u = member(o, "user")) {
        const json& x = object(*u, "process.user");
        if (auto* y = member(x, "uid")) p.user.uid = unsigned32(*y, "process.user.uid");
        if (auto* y = member(x, "gid")) p.user.gid = unsigned32(*y, "process.user.gid");
        if (auto* y = member(x, "umask")) p.user.umask = unsigned32(*y, "process.user.umask");
        if (auto* y = member(x, "additionalGids")) {
            for (size_t i = 0; i < array(*y, "process.user.additionalGids").size(); ++i)
                p.user.additional_gids.push_back(unsigned32((*y)[i], "process.user.additionalGids[" + std::to_string(i) + "]"));
        }
    }
    if (auto* a = member(o, "args")) p.args = strings(*a, "process.args");
    if (p.args.empty()) bad("process.args", "must name at least the program");
    if (auto* e = member(o, "env")) p.env = strings(*e, "process.env");
    if (!member(o, "cwd")) bad("process.cwd", "is required");
    p.cwd = str(o["cwd"], "process.cwd");
    if (p.cwd.empty() || p.cwd[0] != '/') bad("process.cwd", "must be an absolute path: " + p.cwd);
    if (auto* c = member(o, "capabilities")) p.capabilities = capabilities(*c, "process.capabilities");
    if (auto* r = member(o, "rlimits")) {
        for (size_t i = 0; i < array(*r, "process.rlimits").size(); ++i) {
            std::string f = "process.rlimits[" + std::to_string(i) + "]";
            const json& x = object((*r)[i], f);
            if (!member(x, "type") || !member(x, "soft") || !member(x, "hard")) bad(f, "needs type, soft and hard");
            Rlimit rl{str(x["type"], f + ".type"), unsigned64(x["soft"], f + ".soft"), unsigned64(x["hard"], f + ".hard")};
            for (const auto& seen : p.rlimits)
                if (seen.type == rl.type) bad(f + ".type", rl.type + " given twice");
            p.rlimits.push_back(rl);
        }
    }
    if (auto* n = member(o, "noNewPrivileges")) p.no_new_privileges = boolean(*n, "process.noNewPrivileges");
    if (auto* a = member(o, "apparmorProfile")) p.apparmor_profile = str(*a, "process.apparmorProfile");
    if (auto* s = member(o, "selinuxLabel")) p.selinux_label = str(*s, "process.selinuxLabel");
    if (auto* s = member(o, "oomScoreAdj")) {
        int64_t adj = integer(*s, "process.oomScoreAdj");
        if (adj < -1000 || adj > 1000) bad("process.oomScoreAdj", "must be -1000 to 1000");
        p.oom_score_adj = static_cast<int>(adj);
    }
    if (auto* s = member(o, "scheduler")) {
        const json& x = object(*s, "process.scheduler");
        Scheduler sc;
        if (!member(x, "policy")) bad("process.scheduler", "needs a policy");
        sc.policy = str(x["policy"], "process.scheduler.policy");
        if (auto* y = member(x, "nice")) sc.nice = static_cast<int32_t>(integer(*y, "process.scheduler.nice"));
        if (auto* y = member(x, "priority")) sc.priority = static_cast<int32_t>(integer(*y, "process.scheduler.priority"));
        if (auto* y = member(x, "flags")) sc.flags = strings(*y, "process.scheduler.flags");
        if (auto* y = member(x, "runtime")) sc.runtime = unsigned64(*y, "process.scheduler.runtime");
        if (auto* y = member(x, "deadline")) sc.deadline = unsigned64(*y, "process.scheduler.deadline");
        if (auto* y = member(x, "period")) sc.period = unsigned64(*y, "process.scheduler.period");
        p.scheduler = sc;
    }
    if (auto* s = member(o, "ioPriority")) {
        const json& x = object(*s, "process.ioPriority");
        IoPriority io;
        if (!member(x, "class")) bad("process.ioPriority", "needs a class");
        io.klass = str(x["class"], "process.ioPriority.class");
        if (io.klass != "IOPRIO_CLASS_RT" && io.klass != "IOPRIO_CLASS_BE" && io.klass != "IOPRIO_CLASS_IDLE")
            bad("process.ioPriority.class", "must be IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE: " + io.klass);
        if (auto* y = member(x, "priority")) io.priority = static_cast<int>(integer(*y, "process.ioPriority.priority"));
        if (io.priority < 0 || io.priority > 7) bad("process.ioPriority.priority", "must be 0 to 7");
        p.io_priority = io;
    }
    if (auto* a = member(o, "execCPUAffinity")) {
        const json& x = object(*a, "process.execCPUAffinity");
        if (auto* i = member(x, "initial")) p.exec_cpu_initial = str(*i, "process.execCPUAffinity.initial");
        if (auto* fin = member(x, "final")) p.exec_cpu_final = str(*fin, "process.execCPUAffinity.final");
    }
    return p;
}

Resources parse_resources(const json& v) { return resources(v, "linux.resources"); }

Spec parse_spec_json(const json& j) {
    Spec s;
    const json& o = object(j, "(top level)");
    if (!member(o, "ociVersion")) bad("ociVersion", "is required");
    s.oci_version = str(o["ociVersion"], "ociVersion");
    if (s.oci_version.rfind("1.", 0) != 0) bad("ociVersion", "caisson implements 1.x, not " + s.oci_version);
    if (auto* r = member(o, "root")) {
        const json& x = object(*r, "root");
        if (!member(x, "path")) bad("root.path", "is required");
        s.root_path = str(x["path"], "root.path");
        if (auto* ro = member(x, "readonly")) s.root_readonly = boolean(*ro, "root.readonly");
    } else {
        bad("root", "is required on Linux");
    }
    if (auto* p = member(o, "process")) s.process = parse_process(*p);
    if (auto* h = member(o, "hostname")) s.hostname = str(*h, "hostname"), s.has_hostname = true;
    if (auto* d = member(o, "domainname")) s.domainname = str(*d, "domainname");
    if (auto* m = member(o, "mounts")) {
        for (size_t i = 0; i < array(*m, "mounts").size(); ++i) {
            std::string f = "mounts[" + std::to_string(i) + "]";
            const json& x = object((*m)[i], f);
            Mount mt;
            if (!member(x, "destination")) bad(f, "needs a destination");
            mt.destination = str(x["destination"], f + ".destination");
            if (mt.destination.empty() || mt.destination[0] != '/')
                bad(f + ".destination", "must be an absolute path: " + mt.destination);
            if (auto* y = member(x, "type")) mt.type = str(*y, f + ".type");
            if (auto* y = member(x, "source")) mt.source = str(*y, f + ".source");
            if (auto* y = member(x, "options")) mt.options = strings(*y, f + ".options");
            if (auto* y = member(x, "uidMappings")) mt.uid_mappings = id_mappings(*y, f + ".uidMappings");
            if (auto* y = member(x, "gidMappings")) mt.gid_mappings = id_mappings(*y, f + ".gidMappings");
            s.mounts.push_back(std::move(mt));
        }
    }
    if (auto* h = member(o, "hooks")) {
        const json& x = object(*h, "hooks");
        auto take = [&](const char* k, std::vector<Hook>& out) {
            if (auto* y = member(x, k)) out = hooks(*y, std::string("hooks.") + k);
        };
        take("prestart", s.hooks.prestart);
        take("createRuntime", s.hooks.create_runtime);
        take("createContainer", s.hooks.create_container);
        take("startContainer", s.hooks.start_container);
        take("poststart", s.hooks.poststart);
        take("poststop", s.hooks.poststop);
    }
    if (auto* a = member(o, "annotations")) s.annotations = string_map(*a, "annotations");
    if (auto* l = member(o, "linux")) s.linux_ = linux_section(*l), s.has_linux = true;
    return s;
}

Spec parse_spec(const std::string& text, const std::string& origin) { return parse_spec_json(parse_json(text, origin)); }

void validate(const Spec& s) {
    if (!s.process) bad("process", "is required to create a container");
    const Linux& l = s.linux_;
    auto has_ns = [&](const char* t) {
        return std::any_of(l.namespaces.begin(), l.namespaces.end(), [&](const Namespace& n) { return n.type == t; });
    };
    if (s.has_hostname && !s.hostname.empty() && !has_ns("uts")) bad("hostname", "needs a new uts namespace");
    if (!s.domainname.empty() && !has_ns("uts")) bad("domainname", "needs a new uts namespace");
    if ((!l.uid_mappings.empty() || !l.gid_mappings.empty()) && !has_ns("user"))
        bad("linux.uidMappings", "mappings need a user namespace");
    if (has_ns("user")) {
        bool joined = std::any_of(l.namespaces.begin(), l.namespaces.end(),
                                  [](const Namespace& n) { return n.type == "user" && !n.path.empty(); });
        if (!joined && (l.uid_mappings.empty() || l.gid_mappings.empty()))
            bad("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings");
    }
    if (!l.time_offsets.empty() && !has_ns("time")) bad("linux.timeOffsets", "needs a new time namespace");
    for (const auto& n : l.namespaces)
        if (n.type == "time" && !n.path.empty() && !l.time_offsets.empty())
            bad("linux.timeOffsets", "cannot be set when joining an existing time namespace");
    if (!l.sysctl.empty()) {
        for (const auto& [k, v] : l.sysctl) {
            bool net = k.rfind("net.", 0) == 0;
            bool ipc = k.rfind("kernel.msg", 0) == 0 || k.rfind("kernel.sem", 0) == 0 || k.rfind("kernel.shm", 0) == 0 ||
                       k.rfind("fs.mqueue.", 0) == 0;
            bool uts = k == "kernel.hostname" || k == "kernel.domainname";
            if (!net && !ipc && !uts) bad("linux.sysctl." + k, "is not namespaced: it would change the host");
            if (net && !has_ns("network")) bad("linux.sysctl." + k, "needs a new network namespace");
            if (ipc && !has_ns("ipc")) bad("linux.sysctl." + k, "needs a new ipc namespace");
            if (uts && !has_ns("uts")) bad("linux.sysctl." + k, "needs a new uts namespace");
            if (k == "kernel.hostname") bad("linux.sysctl." + k, "use the hostname field (runc refuses it too)");
            if (k.find("..") != std::string::npos || k.find('/') != std::string::npos) bad("linux.sysctl." + k, "bad name");
        }
    }
    if (l.has_intel_rdt) bad("linux.intelRdt", "Intel RDT (resctrl) is not supported by caisson");
    if (l.has_memory_policy) bad("linux.memoryPolicy", "is not supported by caisson");
    if (l.has_net_devices) bad("linux.netDevices", "moving network devices is not supported by caisson");
    if (!s.process->selinux_label.empty()) bad("process.selinuxLabel", "SELinux is not supported by caisson");
    if (!l.mount_label.empty()) bad("linux.mountLabel", "SELinux is not supported by caisson");
    if (!l.rootfs_propagation.empty()) {
        static const std::vector<std::string> kProp = {"private", "rprivate", "slave", "rslave", "shared", "rshared",
                                                       "unbindable", "runbindable"};
        if (std::find(kProp.begin(), kProp.end(), l.rootfs_propagation) == kProp.end())
            bad("linux.rootfsPropagation", "unknown propagation: " + l.rootfs_propagation);
    }
    if (s.process->scheduler) {
        static const std::vector<std::string> kPol = {"SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH",
                                                      "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE"};
        const auto& sc = *s.process->scheduler;
        if (std::find(kPol.begin(), kPol.end(), sc.policy) == kPol.end())
            bad("process.scheduler.policy", "unknown policy: " + sc.policy);
        if (sc.policy == "SCHED_ISO") bad("process.scheduler.policy", "SCHED_ISO is not in Linux");
        static const std::vector<std::string> kFlags = {"SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
                                                        "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS",
                                                        "SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX"};
        for (const auto& fl : sc.flags)
            if (std::find(kFlags.begin(), kFlags.end(), fl) == kFlags.end()) bad("process.scheduler.flags", "unknown flag: " + fl);
        if (sc.policy == "SCHED_DEADLINE" && (!sc.runtime || !sc.deadline))
            bad("process.scheduler", "SCHED_DEADLINE needs a runtime and a deadline");
    }
}

uint64_t capability_bits(const std::vector<std::string>& names, const std::string& field) {
    uint64_t bits = 0;
    for (const auto& n : names) {
        cap_value_t v;
        std::string lower = n;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower.rfind("cap_", 0) != 0 || cap_from_name(lower.c_str(), &v) < 0 || v < 0 || v >= 64)
            bad(field, "unknown capability \"" + n + "\"");
        bits |= 1ull << v;
    }
    return bits;
}

std::vector<std::string> capability_names(uint64_t bits) {
    std::vector<std::string> out;
    for (int c = 0; c < 64; ++c) {
        if (!((bits >> c) & 1)) continue;
        char* name = cap_to_name(c);
        std::string n = name ? name : std::to_string(c);
        cap_free(name);
        for (auto& ch : n) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        out.push_back(n);
    }
    return out;
}

json default_spec(bool rootless, uint32_t uid, uint32_t gid) {
    std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
    json ns = json::array({{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}},
                           {{"type", "cgroup"}}});
    json j = {
        {"ociVersion", kSpecVersion},
        {"process",
         {{"terminal", true},
          {"user", {{"uid", 0}, {"gid", 0}}},
          {"args", {"sh"}},
          {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
          {"cwd", "/"},
          {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
          {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
          {"noNewPrivileges", true}}},
        {"root", {{"path", "rootfs"}, {"readonly", true}}},
        {"hostname", "caisson"},
        {"mounts",
         json::array({{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                      {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"},
                       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
                      {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
                       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
                      {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"},
                       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
                      {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"},
                       {"options", {"nosuid", "noexec", "nodev"}}},
                      {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"},
                       {"options", {"nosuid", "noexec", "nodev", "ro"}}},
                      {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"},
                       {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}}})},
        {"linux",
         {{"resources", {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}}},
          {"namespaces", ns},
          {"maskedPaths",
           {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
          {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
    };
    if (rootless) {
        j["linux"]["namespaces"].push_back({{"type", "user"}});
        j["linux"]["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", uid}, {"size", 1}}});
        j["linux"]["gidMappings"] = json::array({{{"containerID", 0}, {"hostID", gid}, {"size", 1}}});
        j["linux"].erase("resources");
        // Only one gid is mapped: devpts' gid=5 would name an unmapped group (EINVAL), as runc drops it.
        for (auto& m : j["mounts"])
            if (m["destination"] == "/dev/pts") {
                auto& o = m["options"];
                o.erase(std::remove(o.begin(), o.end(), "gid=5"), o.end());
            }
        // Without a network namespace of its own a rootless sysfs cannot be mounted: bind it.
        for (auto& m : j["mounts"])
            if (m["destination"] == "/sys")
                m = {{"destination", "/sys"}, {"type", "none"}, {"source", "/sys"}, {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}};
        j["mounts"].erase(std::remove_if(j["mounts"].begin(), j["mounts"].end(),
                                         [](const json& m) { return m["destination"] == "/sys/fs/cgroup"; }),
                          j["mounts"].end());
    }
    return j;
}

}  // namespace caisson::oci
