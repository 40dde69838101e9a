#include "policy/path_rules.hpp"

#include <fcntl.h>

#include <bitset>

namespace caisson::path_rules {
namespace {

using States = std::bitset<kMaxPattern + 2>;

// The pattern is an automaton whose states are its positions; `**` is two positions, the
// first loops on any character and the second is skipped.
bool double_star(std::string_view p, size_t i) { return i + 1 < p.size() && p[i] == '*' && p[i + 1] == '*'; }

// Adds the positions reachable from those in `s` without reading a character.
void close_over(std::string_view p, States& s) {
    for (size_t i = 0; i <= p.size(); ++i) {
        if (!s[i] || i == p.size()) continue;
        if (double_star(p, i)) s[i + 2] = true;
        else if (p[i] == '*') s[i + 1] = true;
        // "/dir/**" also names "/dir", and "/a/**/b" names "/a/b".
        else if (p[i] == '/' && p.substr(i + 1) == "**") s[p.size()] = true;
        else if (p[i] == '/' && p.substr(i + 1, 3) == "**/") s[i + 3] = true;
    }
}

}  // namespace

bool glob_match(std::string_view p, std::string_view path) {
    if (p.size() > kMaxPattern) return false;
    States now;
    now[0] = true;
    close_over(p, now);
    for (char c : path) {
        States next;
        for (size_t i = 0; i < p.size(); ++i) {
            if (!now[i]) continue;
            if (double_star(p, i)) next[i] = true;
            else if (p[i] == '*') { if (c != '/') next[i] = true; }
            else if (p[i] == '?') { if (c != '/') next[i + 1] = true; }
            else if (p[i] == c) next[i + 1] = true;
        }
        if (next.none()) return false;
        close_over(p, next);
        now = next;
    }
    return now[p.size()];
}

std::string check_pattern(std::string_view p) {
    if (p.empty() || p.front() != '/') return "a path pattern must be absolute";
    if (p.size() > kMaxPattern) return "a path pattern is at most " + std::to_string(kMaxPattern) + " characters";
    if (p.size() > 1 && p.back() == '/') return "a path pattern does not end in '/' (write /dir/** for what is below)";
    size_t start = 1;
    while (start <= p.size()) {
        size_t end = p.find('/', start);
        if (end == std::string_view::npos) end = p.size();
        std::string_view name = p.substr(start, end - start);
        if (name.empty() && end != p.size()) return "a path pattern has no empty names ('//')";
        if (name == "." || name == "..") return "a path pattern has no '.' or '..' (the decision is on the real path)";
        if (name.find("***") != std::string_view::npos) return "'***' in a path pattern (use * or **)";
        start = end + 1;
    }
    return "";
}

bool open_writes(uint64_t flags) {
    return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) != 0;
}

Verdict decide(const seccomp::OpenRules& rules, std::string_view path, bool writes) {
    for (size_t i = 0; i < rules.rules.size(); ++i) {
        const auto& r = rules.rules[i];
        if (r.access == seccomp::PathAccess::Read && writes) continue;
        if (r.access == seccomp::PathAccess::Write && !writes) continue;
        for (const auto& pattern : r.paths)
            if (glob_match(pattern, path)) return {r.action, static_cast<int>(i)};
    }
    return {rules.otherwise, -1};
}

Verdict decide_open(const seccomp::OpenRules& rules, std::string_view path, uint64_t flags) {
    const bool writes = open_writes(flags), reads = (flags & O_ACCMODE) != O_WRONLY;
    if (!writes) return decide(rules, path, false);
    if (reads) {
        Verdict read = decide(rules, path, false);
        if (read.action.kind != seccomp::ActionKind::Allow) return read;
    }
    return decide(rules, path, true);
}

std::string describe(const seccomp::PathRule& r) {
    std::string s = seccomp::action_text(r.action);
    s += r.access == seccomp::PathAccess::Read ? " read " : r.access == seccomp::PathAccess::Write ? " write " : " ";
    for (size_t i = 0; i < r.paths.size(); ++i) s += (i ? ", " : "") + r.paths[i];
    return s + " (" + r.origin + ")";
}

}  // namespace caisson::path_rules
