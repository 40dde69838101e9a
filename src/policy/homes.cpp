#include "policy/homes.hpp"

#include <caisson/error.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

namespace caisson::homes {
namespace {

// Directories a home may be below but never be: hiding them would hide the system.
constexpr std::string_view kSystem[] = {"/media", "/mnt", "/opt", "/run", "/srv", "/tmp", "/var", "/nonexistent",
                                        "/var/empty", "/var/lib", "/var/run", "/var/spool", "/var/cache", "/var/log"};
// Nor in or below these: the system's own files.
constexpr std::string_view kSystemTrees[] = {"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                                             "/boot", "/proc", "/sys", "/dev"};

// "/a//b/./c/" -> "/a/b/c"; "" for anything relative or with "..".
std::string normalize(std::string_view path) {
    if (path.empty() || path[0] != '/') return {};
    std::string out;
    std::istringstream parts{std::string(path)};
    for (std::string part; std::getline(parts, part, '/');) {
        if (part.empty() || part == ".") continue;
        if (part == "..") return {};
        out += "/" + part;
    }
    return out;
}

bool below(const std::string& path, const std::string& dir) {
    return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

struct PasswdEntry {
    unsigned long uid;
    std::string home;
};

std::vector<PasswdEntry> entries(std::string_view passwd) {
    std::vector<PasswdEntry> out;
    std::istringstream lines{std::string(passwd)};
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream in(line);
        for (std::string field; std::getline(in, field, ':');) fields.push_back(field);
        if (fields.size() < 6) continue;
        char* end = nullptr;
        unsigned long uid = std::strtoul(fields[2].c_str(), &end, 10);
        if (end == fields[2].c_str() || *end) continue;
        out.push_back({uid, fields[5]});
    }
    return out;
}

bool system_dir(const std::string& dir) {
    if (std::find(std::begin(kSystem), std::end(kSystem), dir) != std::end(kSystem)) return true;
    return std::any_of(std::begin(kSystemTrees), std::end(kSystemTrees),
                       [&](std::string_view t) { return dir == t || below(dir, std::string(t)); });
}

}  // namespace

namespace {

struct MountLine {
    std::string dev, root, point;
};

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
            out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::vector<MountLine> parse_mountinfo(std::string_view text) {
    std::vector<MountLine> out;
    size_t at = 0;
    while (at < text.size()) {
        size_t eol = text.find('\n', at);
        std::string line(text.substr(at, eol == std::string_view::npos ? std::string_view::npos : eol - at));
        at = eol == std::string_view::npos ? text.size() : eol + 1;
        std::istringstream f(line);
        std::string id, parent, dev, root, point;
        if (f >> id >> parent >> dev >> root >> point) out.push_back({dev, unescape(root), unescape(point)});
    }
    return out;
}

// Whether `path` is `dir` or below it.
bool within(const std::string& path, const std::string& dir) {
    if (dir == "/") return true;
    return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

std::string joined(const std::string& dir, const std::string& rel) {
    if (rel.empty()) return dir;
    return dir == "/" ? "/" + rel : dir + "/" + rel;
}

// `path` below `dir`, without the leading '/': "" for `dir` itself.
std::string path_below(const std::string& path, const std::string& dir) {
    if (path == dir) return "";
    return path.substr(dir == "/" ? 1 : dir.size() + 1);
}

}  // namespace

std::string workdir_refusal(const std::string& cwd, const std::string& home, const std::vector<std::string>& masks) {
    const std::string dir = normalize(cwd);
    if (dir.empty() && !cwd.empty() && cwd.find_first_not_of('/') == std::string::npos)
        return "it is /, which would make the whole root writable";
    if (dir.empty()) return "it is not an absolute path";
    for (const char* shared : {"/tmp", "/var/tmp", "/dev/shm", "/run"})
        if (dir == shared || (std::string_view(shared) == "/run" && below(dir, shared)))
            return "it is " + dir + ", which other users and services share (their sockets and files)";
    if (system_dir(dir)) return "it is a system directory";
    for (const std::string& h : {std::string("/home"), std::string("/root"), normalize(home)})
        if (!h.empty() && (dir == h || below(h, dir))) return "it holds a home directory (" + h + "), which would become writable";
    for (const auto& m : masks) {
        if (dir == m || below(dir, m)) return "it is in " + m + ", which --home hides";
        if (below(m, dir)) return "it holds " + m + ", which --home hides";
    }
    return "";
}

std::vector<std::string> other_mounts_of(const std::vector<std::string>& hidden, std::string_view mountinfo) {
    const auto mounts = parse_mountinfo(mountinfo);
    std::vector<std::string> out;
    auto covered = [&](const std::string& p) {
        for (const auto& h : hidden)
            if (within(p, h)) return true;
        for (const auto& o : out)
            if (within(p, o)) return true;
        return false;
    };
    for (const auto& h : hidden) {
        // The mount the hidden directory is on (the last of the longest mount point: the top
        // of a stack), and where in its filesystem the directory is.
        const MountLine* on = nullptr;
        for (const auto& m : mounts)
            if (within(h, m.point) && (!on || m.point.size() >= on->point.size())) on = &m;
        if (!on) continue;
        const std::string src = joined(on->root, path_below(h, on->point));
        for (const auto& m : mounts) {
            if (&m == on || m.dev != on->dev || within(m.point, h)) continue;
            std::string name;
            if (within(m.root, src)) name = m.point;                               // all of it is the home's
            else if (within(src, m.root)) name = joined(m.point, path_below(src, m.root));  // the home is in it
            else continue;
            if (name == "/" || covered(name)) continue;
            out.push_back(name);
        }
    }
    return out;
}

std::vector<std::string> to_hide(std::string_view passwd, uid_t caller, std::string_view caller_home,
                                 const std::vector<std::string>& extra, std::string (*resolve)(const std::string&)) {
    std::vector<std::string> candidates{"/home", "/root"};
    for (const auto& e : entries(passwd))
        if ((e.uid >= 1000 && e.uid < 65534) || e.uid == caller) candidates.push_back(e.home);
    candidates.emplace_back(caller_home);
    candidates.insert(candidates.end(), extra.begin(), extra.end());
    std::vector<std::string> out;
    auto add = [&](const std::string& c) {
        std::string dir = normalize(c);
        if (!dir.empty() && !system_dir(dir)) out.push_back(dir);
    };
    for (const auto& c : candidates) {
        add(c);
        if (resolve && !normalize(c).empty())
            if (std::string real = resolve(normalize(c)); !real.empty() && real != normalize(c)) add(real);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    // A parent hides its children already.
    std::vector<std::string> kept;
    for (const auto& d : out)
        if (std::none_of(kept.begin(), kept.end(), [&](const std::string& k) { return below(d, k); })) kept.push_back(d);
    return kept;
}

void check_home(const std::string& home, std::string_view passwd, uid_t caller) {
    if (home == "/home") throw Error::usage("--home: the home " + home + " holds every user's home; set HOME to your own");
    for (const auto& e : entries(passwd)) {
        std::string other = normalize(e.home);
        if (e.uid == caller || e.uid < 1000 || e.uid >= 65534 || other.empty()) continue;
        if (other == home || below(other, home))
            throw Error::usage("--home: the home " + home + " holds " + other + ", uid " + std::to_string(e.uid) +
                               "'s; set HOME to your own");
    }
}

std::string home_of(std::string_view passwd, uid_t caller, std::string_view caller_home) {
    if (std::string dir = normalize(caller_home); !dir.empty()) return dir;
    std::istringstream lines{std::string(passwd)};
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream in(line);
        for (std::string field; std::getline(in, field, ':');) fields.push_back(field);
        if (fields.size() >= 6 && fields[2] == std::to_string(caller)) return normalize(fields[5]);
    }
    return {};
}

std::vector<std::string> masks_in(const std::string& home, const std::vector<std::string>& builtin,
                                  const std::vector<std::string>& extra, const std::vector<std::string>& bound) {
    std::vector<std::string> out;
    for (const auto* list : {&builtin, &extra})
        for (const auto& rel : *list) {
            std::string abs = normalize(home + "/" + rel);
            if (rel.empty() || rel[0] == '/' || abs.empty() || !below(abs, home))
                throw Error::usage("--home-mask: \"" + rel + "\" is not a path inside the home (relative, without \"..\")");
            // Bound at that very path: the user brings it in on purpose. Anything bound
            // below it stays under the mask (masks go on last).
            bool kept = std::any_of(bound.begin(), bound.end(), [&](const std::string& b) { return normalize(b) == abs; });
            if (!kept && std::find(out.begin(), out.end(), abs) == out.end()) out.push_back(abs);
        }
    return out;
}

}  // namespace caisson::homes
