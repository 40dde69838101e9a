#include "policy/learned.hpp"

#include "policy/toml_guard.hpp"

#include <caisson/error.hpp>

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

std::string to_toml(const Profile& p, const std::string& header) {
    std::string t = header + "default = \"errno(EPERM)\"\nabi = [\"x86_64\"]\nallow = [\n";
    for (const auto& s : p.allow) t += "  \"" + s + "\",\n";
    t += "]\n";
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
    return t;
}

Profile from_toml(std::string_view text, const std::string& origin) {
    toml::table t = toml_guard::parse(text, origin);
    Profile p;
    if (auto allow = t["allow"].as_array())
        for (const auto& e : *allow)
            if (auto s = e.value<std::string>()) p.allow.insert(*s);
    if (auto rules = t["rule"].as_array()) {
        for (const auto& e : *rules) {
            auto rt = e.as_table();
            auto name = rt ? (*rt)["syscall"].value<std::string>() : std::nullopt;
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
