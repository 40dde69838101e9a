#include "policy/seccomp_profile.hpp"

#include "filter/condition.hpp"
#include "filter/constants.hpp"
#include "filter/syscall_table.hpp"
#include "policy/path_rules.hpp"
#include "policy/profile.hpp"

#include <caisson/error.hpp>

#include "policy/toml_guard.hpp"

#include <toml++/toml.h>

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

namespace caisson::seccomp_profile {
namespace {

using seccomp::Action;
using seccomp::ActionKind;

constexpr int kMaxDepth = 8;

std::string where(const std::string& origin, const toml::source_region& src) {
    return origin + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error(ErrorKind::Usage, "read seccomp policy", path, errno ? errno : ENOENT);
    std::stringstream buf;
    buf << in.rdbuf();
    return buf.str();
}

bool looks_like_file(std::string_view s) { return s.find('/') != std::string_view::npos || s.ends_with(".toml"); }

// A name: $CAISSON_PROFILE_PATH/seccomp/NAME.toml first (an administrator's override),
// then the built-ins.
std::pair<std::string, std::string> find_text(std::string_view name_or_file) {
    std::string s(name_or_file);
    if (looks_like_file(s)) return {read_file(s), s};
    for (const auto& dir : profile::search_path()) {
        std::string path = dir + "/seccomp/" + s + ".toml";
        if (::access(path.c_str(), R_OK) == 0) return {read_file(path), path};
    }
    auto text = builtin_text(s);
    if (text.empty()) throw Error::usage("--seccomp: no seccomp policy named '" + s + "' (built in: default, strict, none)");
    return {std::string(text), "builtin:" + s};
}

std::vector<std::string> string_list(const toml::node& n, const std::string& at, std::string_view key) {
    std::vector<std::string> out;
    if (auto s = n.as_string()) {
        out.push_back(s->get());
        return out;
    }
    auto arr = n.as_array();
    if (!arr) throw Error::usage(at + ": '" + std::string(key) + "' takes a string or a list of strings");
    for (const auto& e : *arr) {
        auto s = e.as_string();
        if (!s) throw Error::usage(where(at.substr(0, at.find(':')), e.source()) + ": '" + std::string(key) + "' lists strings only");
        out.push_back(s->get());
    }
    return out;
}

std::string string_value(const toml::node& n, const std::string& at, std::string_view key) {
    auto s = n.as_string();
    if (!s) throw Error::usage(at + ": '" + std::string(key) + "' takes a string");
    return s->get();
}

// An action, with the place of a bad one in its error.
seccomp::Action action_at(const toml::node& node, const std::string& here, std::string_view key) {
    try {
        return parse_action(string_value(node, here, key));
    } catch (const Error& e) {
        throw Error::usage(here + ": " + e.what());
    }
}

seccomp::Rule parse_rule(const toml::table& t, const std::string& origin, const std::string& at) {
    seccomp::Rule r;
    r.origin = at;
    for (const auto& [key, node] : t) {
        std::string here = where(origin, node.source());
        std::string_view k = key.str();
        if (k == "syscall" || k == "syscalls") {
            r.syscalls = string_list(node, here, k);
        } else if (k == "action") {
            r.action = action_at(node, here, k);
        } else if (k == "if") {
            r.when_text = string_value(node, here, k);
            try {
                r.when = filter::parse_condition(r.when_text);
            } catch (const Error& e) {
                throw Error::usage(here + ": in '" + r.when_text + "': " + e.what());
            }
            r.conditional = true;
        } else {
            throw Error::usage(here + ": unknown key '" + std::string(k) + "' in a rule (syscall, action, if)");
        }
    }
    if (r.syscalls.empty()) throw Error::usage(at + ": a rule needs 'syscall'");
    for (const auto& s : r.syscalls)
        if (s.empty()) throw Error::usage(at + ": an empty syscall name");
    return r;
}

seccomp::Supervised parse_supervised(const toml::table& t, const std::string& origin, const std::string& at) {
    seccomp::Supervised r;
    r.origin = at;
    for (const auto& [key, node] : t) {
        std::string here = where(origin, node.source());
        std::string_view k = key.str();
        if (k == "syscall" || k == "syscalls") {
            r.syscalls = string_list(node, here, k);
        } else if (k == "max") {
            auto v = node.as_integer();
            if (!v || v->get() < 0) throw Error::usage(here + ": 'max' is a count, 0 or more");
            r.max = static_cast<uint64_t>(v->get());
        } else if (k == "rate") {
            auto d = node.value<double>();
            if (!d || !(*d > 0) || *d > 1e9) throw Error::usage(here + ": 'rate' is calls per second, more than 0");
            r.rate = *d;
        } else if (k == "before" || k == "after") {
            (k == "before" ? r.before : r.after) = string_value(node, here, k);
        } else if (k == "then") {
            r.then = action_at(node, here, k);
            if (r.then.kind != seccomp::ActionKind::Errno && r.then.kind != seccomp::ActionKind::KillProcess)
                throw Error::usage(here + ": 'then' is errno(N) or kill-process");
        } else {
            throw Error::usage(here + ": unknown key '" + std::string(k) + "' in [[supervise]] (syscall, max, rate, before, after, then)");
        }
    }
    if (r.syscalls.empty()) throw Error::usage(at + ": [[supervise]] needs 'syscall'");
    if (!r.max && !r.rate && r.before.empty() && r.after.empty())
        throw Error::usage(at + ": [[supervise]] needs a condition (max, rate, before or after)");
    return r;
}

seccomp::PathRule parse_path_rule(const toml::table& t, const std::string& origin, const std::string& at) {
    seccomp::PathRule r;
    r.origin = at;
    r.action = {ActionKind::Allow, 0};
    for (const auto& [key, node] : t) {
        std::string here = where(origin, node.source());
        std::string_view k = key.str();
        if (k == "path" || k == "paths") {
            r.paths = string_list(node, here, k);
            for (const auto& pattern : r.paths)
                if (auto why = path_rules::check_pattern(pattern); !why.empty())
                    throw Error::usage(here + ": '" + pattern + "': " + why);
        } else if (k == "access") {
            std::string a = string_value(node, here, k);
            if (a == "read") r.access = seccomp::PathAccess::Read;
            else if (a == "write") r.access = seccomp::PathAccess::Write;
            else if (a == "any") r.access = seccomp::PathAccess::Any;
            else throw Error::usage(here + ": 'access' is read, write or any");
        } else if (k == "action") {
            r.action = action_at(node, here, k);
            if (r.action.kind != ActionKind::Allow && r.action.kind != ActionKind::Errno && r.action.kind != ActionKind::KillProcess)
                throw Error::usage(here + ": an [[open.rule]]'s action is allow, errno(N) or kill-process");
        } else {
            throw Error::usage(here + ": unknown key '" + std::string(k) + "' in [[open.rule]] (path, access, action)");
        }
    }
    if (r.paths.empty()) throw Error::usage(at + ": [[open.rule]] needs 'path'");
    return r;
}

seccomp::OpenRules parse_open(const toml::table& t, const std::string& origin, const std::string& at) {
    seccomp::OpenRules o;
    o.origin = at;
    for (const auto& [key, node] : t) {
        std::string here = where(origin, node.source());
        std::string_view k = key.str();
        if (k == "default") {
            o.otherwise = action_at(node, here, k);
            if (o.otherwise.kind != ActionKind::Allow && o.otherwise.kind != ActionKind::Errno &&
                o.otherwise.kind != ActionKind::KillProcess)
                throw Error::usage(here + ": [open]'s default is allow, errno(N) or kill-process");
        } else if (k == "rule") {
            auto arr = node.as_array();
            if (!arr) throw Error::usage(here + ": 'rule' in [open] is a list of tables: write [[open.rule]]");
            for (const auto& e : *arr) {
                auto rt = e.as_table();
                if (!rt) throw Error::usage(where(origin, e.source()) + ": an [[open.rule]] is a table");
                o.rules.push_back(parse_path_rule(*rt, origin, where(origin, e.source())));
            }
        } else {
            throw Error::usage(here + ": unknown key '" + std::string(k) + "' in [open] (default, rule)");
        }
    }
    return o;
}

void apply_table(seccomp::Policy& p, const toml::table& t, const std::string& origin, int depth,
                 std::vector<seccomp::Rule>& allow_rules) {
    std::vector<seccomp::Rule> own_rules, own_allow;
    for (const auto& [key, node] : t) {
        std::string at = where(origin, node.source());
        std::string_view k = key.str();
        if (k == "extends" || k == "description") {
            continue;
        } else if (k == "filter") {
            auto b = node.as_boolean();
            if (!b) throw Error::usage(at + ": 'filter' takes true or false");
            p.mode = b->get() ? seccomp::Mode::Filter : seccomp::Mode::None;
        } else if (k == "default") {
            try {
                p.default_action = parse_action(string_value(node, at, k));
            } catch (const Error& e) {
                throw Error::usage(at + ": " + e.what());
            }
        } else if (k == "abi") {
            p.abis.clear();
            for (const auto& name : string_list(node, at, k)) {
                auto abi = filter::abi_from_name(name);
                if (!abi) throw Error::usage(at + ": unknown ABI '" + name + "' (x86_64, x32, i386)");
                p.abis.push_back(*abi);
            }
        } else if (k == "allow") {
            seccomp::Rule r;
            r.syscalls = string_list(node, at, k);
            r.origin = at;
            if (!r.syscalls.empty()) own_allow.push_back(std::move(r));
        } else if (k == "supervise") {
            auto arr = node.as_array();
            if (!arr) throw Error::usage(at + ": 'supervise' is a list of tables: write [[supervise]]");
            for (const auto& e : *arr) {
                auto rt = e.as_table();
                if (!rt) throw Error::usage(where(origin, e.source()) + ": a [[supervise]] entry is a table");
                p.supervised.push_back(parse_supervised(*rt, origin, where(origin, e.source())));
            }
        } else if (k == "open") {
            auto ot = node.as_table();
            if (!ot) throw Error::usage(at + ": 'open' is a table: write [open] and [[open.rule]]");
            p.open = parse_open(*ot, origin, at);
        } else if (k == "rule") {
            auto arr = node.as_array();
            if (!arr) throw Error::usage(at + ": 'rule' is a list of tables: write [[rule]]");
            for (const auto& e : *arr) {
                auto rt = e.as_table();
                if (!rt) throw Error::usage(where(origin, e.source()) + ": a rule is a table");
                own_rules.push_back(parse_rule(*rt, origin, where(origin, e.source())));
            }
        } else {
            throw Error::usage(at + ": unknown key '" + std::string(k) +
                               "' in a seccomp policy (extends, description, filter, default, abi, allow, rule, supervise, open)");
        }
    }
    // Own rules first, then the parent's; the allow lists after every rule.
    std::vector<seccomp::Rule> parent_rules, parent_allow;
    if (auto ext = t.get("extends")) {
        std::string at = where(origin, ext->source());
        auto s = ext->as_string();
        if (!s) throw Error::usage(at + ": 'extends' takes a policy name or file");
        if (depth >= kMaxDepth) throw Error::usage(at + ": seccomp policies extend each other too deeply (a cycle?)");
        std::string target = s->get();
        if (looks_like_file(target) && target.front() != '/' && origin.find('/') != std::string::npos)
            target = origin.substr(0, origin.rfind('/')) + "/" + target;
        auto [text, path] = find_text(target);
        toml::table parent = toml_guard::parse(text, path);
        seccomp::Policy base;
        base.mode = seccomp::Mode::Filter;
        std::vector<seccomp::Rule> base_allow;
        apply_table(base, parent, path, depth + 1, base_allow);
        parent_rules = std::move(base.rules);
        parent_allow = std::move(base_allow);
        for (auto& sv : base.supervised) p.supervised.push_back(std::move(sv));
        // Path rules compose like the rules: the child's first, then the parent's.
        if (base.open.enabled()) {
            if (!p.open.enabled()) {
                p.open = std::move(base.open);
            } else {
                for (auto& r : base.open.rules) p.open.rules.push_back(std::move(r));
                if (!t.get("open")->as_table()->get("default")) p.open.otherwise = base.open.otherwise;
            }
        }
        // The child's settings win: only those it does not set come from the parent.
        if (!t.get("default")) p.default_action = base.default_action;
        if (!t.get("abi")) p.abis = base.abis;
        if (!t.get("filter")) p.mode = base.mode;
    }
    for (auto& r : own_rules) p.rules.push_back(std::move(r));
    for (auto& r : parent_rules) p.rules.push_back(std::move(r));
    for (auto& r : own_allow) allow_rules.push_back(std::move(r));
    for (auto& r : parent_allow) allow_rules.push_back(std::move(r));
}

}  // namespace

Action parse_action(std::string_view s) {
    // errno(N) takes a number or a name (EPERM); trace(N) a number the tracer receives.
    auto argument = [&](std::string_view prefix) -> std::optional<std::string_view> {
        if (!s.starts_with(prefix) || !s.ends_with(")")) return std::nullopt;
        return s.substr(prefix.size(), s.size() - prefix.size() - 1);
    };
    if (s == "allow") return {ActionKind::Allow, 0};
    if (s == "kill" || s == "kill-process") return {ActionKind::KillProcess, 0};
    if (s == "kill-thread") return {ActionKind::KillThread, 0};
    if (s == "trap") return {ActionKind::Trap, 0};
    if (s == "log") return {ActionKind::Log, 0};
    if (s == "notify") return {ActionKind::Notify, 0};
    if (auto inner = argument("errno(")) {
        auto v = filter::errno_value(*inner);
        if (!v) throw Error::usage("'" + std::string(s) + "': expected an errno number or name (EPERM)");
        return {ActionKind::Errno, static_cast<uint16_t>(*v)};
    }
    if (auto inner = argument("trace(")) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(inner->data(), inner->data() + inner->size(), v);
        if (ec != std::errc() || end != inner->data() + inner->size() || v > 0xffff)
            throw Error::usage("'" + std::string(s) + "': expected a number from 0 to 65535");
        return {ActionKind::Trace, static_cast<uint16_t>(v)};
    }
    throw Error::usage("unknown action '" + std::string(s) +
                       "' (allow, errno(N|NAME), kill-process, kill-thread, trap, log, trace(N), notify)");
}

seccomp::Policy parse_text(std::string_view text, const std::string& origin) {
    toml::table t = toml_guard::parse(text, origin);
    seccomp::Policy p;
    p.mode = seccomp::Mode::Filter;
    p.name = origin;
    std::vector<seccomp::Rule> allow_rules;
    apply_table(p, t, origin, 0, allow_rules);
    for (auto& r : allow_rules) p.rules.push_back(std::move(r));
    return p;
}

seccomp::Policy load(std::string_view name_or_file) {
    auto [text, origin] = find_text(name_or_file);
    seccomp::Policy p = parse_text(text, origin);
    p.name = std::string(name_or_file);
    return p;
}

}  // namespace caisson::seccomp_profile

namespace caisson::seccomp {

Policy policy_from_toml(std::string_view text, const std::string& origin) { return seccomp_profile::parse_text(text, origin); }

std::string action_text(const Action& a) {
    switch (a.kind) {
    case ActionKind::Allow: return "allow";
    case ActionKind::Errno: return std::string("errno(") + filter::errno_name(a.value) + ")";
    case ActionKind::KillThread: return "kill-thread";
    case ActionKind::KillProcess: return "kill-process";
    case ActionKind::Trap: return "trap";
    case ActionKind::Log: return "log";
    case ActionKind::Trace: return "trace(" + std::to_string(a.value) + ")";
    case ActionKind::Notify: return "notify";
    }
    return "?";
}

}  // namespace caisson::seccomp
