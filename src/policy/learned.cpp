#include "policy/learned.hpp"

#include "policy/host_rules.hpp"
#include "policy/path_rules.hpp"
#include "policy/printable.hpp"
#include "policy/toml_guard.hpp"

#include <caisson/error.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace caisson::learned {

std::optional<unsigned> recorded_arg(std::string_view syscall) {
    if (syscall == "socket" || syscall == "socketpair" || syscall == "prctl") return 0;
    if (syscall == "ioctl" || syscall == "fcntl") return 1;
    return std::nullopt;
}

void add(Profile& p, const std::string& syscall, const uint64_t args[6]) {
    if (p.allow.count(syscall)) return;
    auto which = recorded_arg(syscall);
    if (!which) {
        p.allow.insert(syscall);
        return;
    }
    auto& values = p.by_value[syscall];
    // The kernel reads these arguments as int: only the low 32 bits count.
    values.insert(args[*which] & 0xffffffffu);
    if (values.size() > kMaxValues) {
        p.by_value.erase(syscall);
        p.allow.insert(syscall);
    }
}

void merge(Profile& into, const Profile& other) {
    for (const auto& [path, bits] : other.paths) into.paths[path] |= bits;
    into.connects.insert(other.connects.begin(), other.connects.end());
    into.binds.insert(other.binds.begin(), other.binds.end());
    into.hosts.insert(other.hosts.begin(), other.hosts.end());
    for (const auto& s : other.allow) {
        into.allow.insert(s);
        into.by_value.erase(s);
    }
    for (const auto& [s, values] : other.by_value) {
        if (into.allow.count(s)) continue;
        uint64_t args[6] = {};
        for (uint64_t v : values) {
            args[*recorded_arg(s)] = v;
            add(into, s, args);
        }
    }
}

namespace {

constexpr size_t kCollapseAt = 8;   // files read below one directory before it becomes DIR/**
constexpr int kCollapseDepth = 3;   // /usr/lib/python3.11, never /usr/lib

int depth(const std::string& path) { return static_cast<int>(std::count(path.begin(), path.end(), '/')); }

std::string parent(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// A TOML basic string's inside: quotes, backslashes and control characters escaped (the rest
// is kept to ASCII by who calls it).
std::string quoted(const std::string& text) {
    std::string q;
    for (char c : text) {
        if (c == '"' || c == '\\') {
            q += std::string("\\") + c;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            char esc[8];
            std::snprintf(esc, sizeof(esc), "\\u%04x", static_cast<unsigned char>(c));
            q += esc;
        } else {
            q += c;
        }
    }
    return q;
}

std::string quoted_list(const std::vector<std::string>& items) {
    std::string t = "[\n";
    for (const auto& s : items) t += "  \"" + quoted(s) + "\",\n";
    return t + "]\n";
}

std::optional<unsigned> port_of(const std::string& address) {
    if (address.starts_with("unix:")) return std::nullopt;
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    unsigned port = static_cast<unsigned>(std::strtoul(address.c_str() + colon + 1, nullptr, 10));
    return port > 0 && port < 65536 ? std::optional<unsigned>(port) : std::nullopt;
}

}  // namespace

// A path the program named becomes a rule only as the literal it is: a name holding a
// pattern's characters (a file called "**") would allow what the run never opened, and bytes
// outside printable ASCII have no place in caisson's TOML. Such paths are left out, so the
// checked run is refused them.
namespace {
bool literal_path(const std::string& path) {
    for (unsigned char c : path)
        if (c < 0x20 || c >= 0x7f || c == '*' || c == '?') return false;
    return true;
}
}  // namespace

PathRules path_rules(const Profile& p) {
    std::set<std::string> read, write;
    for (const auto& [path, bits] : p.paths) {
        if (!literal_path(path)) continue;
        if (bits & kCreate) write.insert(parent(path) == "/" ? path : parent(path) + "/**");
        else if (bits & kWrite) write.insert(path);
        else read.insert(path);
    }
    // Counted per directory: every read path below it.
    std::map<std::string, size_t> below;
    for (const auto& path : read)
        for (std::string d = parent(path); depth(d) >= kCollapseDepth; d = parent(d)) ++below[d];
    std::set<std::string> collapsed;
    for (const auto& path : read) {
        std::string chosen = path;
        for (std::string d = parent(path); depth(d) >= kCollapseDepth; d = parent(d))
            if (below[d] >= kCollapseAt) chosen = d + "/**";  // the shallowest wins
        collapsed.insert(chosen);
    }
    // A pattern has a bounded length: a longer path stands for its nearest short directory.
    auto bounded = [](const std::set<std::string>& in) {
        std::vector<std::string> out;
        for (std::string path : in) {
            for (std::string d = parent(path); path.size() > path_rules::kMaxPattern; d = parent(d)) path = d + "/**";
            if (out.empty() || out.back() != path) out.push_back(path);
        }
        return out;
    };
    return {bounded(collapsed), bounded(write)};
}

std::string run_profile_toml(const Profile& p, const std::string& seccomp_path, const std::string& header) {
    std::string t = header + "seccomp = \"" + quoted(seccomp_path) + "\"\n";
    auto ports = [&](const std::set<std::string>& addresses, const char* key) {
        std::set<unsigned> set;
        std::string seen;
        for (const auto& a : addresses) {
            // What the program named (a Unix socket's path may hold a line break): one
            // comment line, whatever it holds, never a key of the profile.
            seen += "# " + std::string(key) + ": " + printable(a, 200) + "\n";
            if (auto port = port_of(a)) set.insert(*port);
        }
        t += seen;
        if (set.empty()) return void(t += std::string(key) + " = [\"none\"]\n");
        t += std::string(key) + " = [";
        bool first = true;
        for (unsigned port : set) t += (first ? "" : ", ") + std::to_string(port), first = false;
        t += "]\n";
    };
    ports(p.connects, "landlock-connect");
    ports(p.binds, "landlock-bind");
    if (!p.hosts.empty()) {
        // The names the run reached through caisson's egress proxy, each with its ports.
        std::map<std::string, std::set<std::string>> by_name;
        for (const auto& h : p.hosts) {
            size_t colon = h.rfind(':');
            if (colon == std::string::npos) continue;
            // Names and ports as the proxy may give them, and nothing that could leave the string.
            const std::string name = h.substr(0, colon), port = h.substr(colon + 1);
            if (host_rules::normalize(name) != name || name.find_first_not_of("0123456789.") == std::string::npos || port.empty() || port.size() > 5 ||
                port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) == 0 || std::stoul(port) > 65535)
                continue;
            by_name[name].insert(port);
        }
        std::string list;
        for (const auto& [name, set] : by_name) {
            std::string ports_text;
            for (const auto& port : set) ports_text += (ports_text.empty() ? "" : ",") + port;
            list += (list.empty() ? "" : ", ") + std::string("\"") + name + ":" + ports_text + "\"";
        }
        t += "allow-host = [" + list + "]\n";
    }
    return t;
}

namespace {

// What no learned policy lets through, whatever the run called, as caisson's default policy
// refuses it: a new namespace (a user namespace is the way to the kernel's code for
// unprivileged ones), by clone's or unshare's flags; clone3's flags are in memory a filter
// cannot read, and ENOSYS makes the C library fall back to clone. Rules come before `allow`.
constexpr const char* kNewNamespaces =
    "CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME";

bool is_guard_rule(const std::string& syscall, const std::optional<std::string>& action) {
    return (syscall == "clone" || syscall == "clone3" || syscall == "unshare") && action && *action != "allow";
}

}  // namespace

std::string namespace_flags() { return kNewNamespaces; }

std::string to_toml(const Profile& p, const std::string& header) {
    std::string t = header + "default = \"errno(EPERM)\"\nabi = [\"x86_64\"]\nallow = [\n";
    for (const auto& s : p.allow) t += "  \"" + s + "\",\n";
    t += "]\n";
    t += "\n# Never learned: a new namespace (clone3's flags cannot be read: ENOSYS makes the C library use clone).\n"
         "[[rule]]\nsyscall = \"clone3\"\naction = \"errno(ENOSYS)\"\n\n"
         "[[rule]]\nsyscall = [\"clone\", \"unshare\"]\naction = \"errno(EPERM)\"\nif = \"arg0 & (" +
         std::string(kNewNamespaces) + ")\"\n";
    for (const auto& [s, values] : p.by_value) {
        std::string set;
        for (uint64_t v : values) {
            char num[24];
            std::snprintf(num, sizeof(num), "%#llx", static_cast<unsigned long long>(v));
            set += (set.empty() ? "" : ", ") + std::string(v == 0 ? "0" : num);
        }
        t += "\n[[rule]]\nsyscall = \"" + s + "\"\nif = \"arg" + std::to_string(*recorded_arg(s)) + " in {" + set +
             "}\"\naction = \"allow\"\n";
    }
    if (!p.paths.empty()) {
        auto rules = path_rules(p);
        t += "\n# Opens, decided on the real path (caisson's opener performs them): what the run opened.\n"
             "[open]\ndefault = \"errno(EACCES)\"\n";
        if (!rules.read.empty()) t += "\n[[open.rule]]\naccess = \"read\"\npath = " + quoted_list(rules.read);
        if (!rules.write.empty()) t += "\n[[open.rule]]\npath = " + quoted_list(rules.write);
    }
    return t;
}

Profile from_toml(std::string_view text, const std::string& origin) {
    toml::table t = toml_guard::parse(text, origin);
    Profile p;
    if (auto allow = t["allow"].as_array())
        for (const auto& e : *allow)
            if (auto s = e.value<std::string>()) p.allow.insert(*s);
    if (auto open = t["open"]["rule"].as_array()) {
        for (const auto& e : *open) {
            auto rt = e.as_table();
            if (!rt) continue;
            unsigned bits = (*rt)["access"].value<std::string>() == std::optional<std::string>("read") ? kRead : kWrite;
            if (auto paths = (*rt)["path"].as_array())
                for (const auto& path : *paths)
                    if (auto s = path.value<std::string>()) p.paths[*s] |= bits;
        }
    }
    if (auto rules = t["rule"].as_array()) {
        for (const auto& e : *rules) {
            auto rt = e.as_table();
            // The namespace rules every learned policy has (to_toml writes them again).
            if (rt && (*rt)["syscall"].is_array()) {
                bool guard = true;
                for (const auto& n : *(*rt)["syscall"].as_array())
                    guard = guard && n.value<std::string>() && is_guard_rule(*n.value<std::string>(), (*rt)["action"].value<std::string>());
                if (guard) continue;
            }
            auto name = rt ? (*rt)["syscall"].value<std::string>() : std::nullopt;
            if (name && is_guard_rule(*name, (*rt)["action"].value<std::string>())) continue;
            auto cond = rt ? (*rt)["if"].value<std::string>() : std::nullopt;
            auto open = cond ? cond->find('{') : std::string::npos;
            if (!name || !recorded_arg(*name) || open == std::string::npos)
                throw Error::usage("--merge: " + origin + ": not a profile written by caisson learn (a [[rule]] it cannot read)");
            auto& values = p.by_value[*name];
            for (const char* s = cond->c_str() + open + 1; *s && *s != '}';) {
                char* end = nullptr;
                unsigned long long v = std::strtoull(s, &end, 0);
                if (end == s) break;
                values.insert(v);
                s = end;
                while (*s == ',' || *s == ' ') ++s;
            }
        }
    }
    return p;
}

}  // namespace caisson::learned
