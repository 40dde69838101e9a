#include "policy/profile.hpp"

#include "policy/schema.hpp"

#include <caisson/error.hpp>

#include "policy/toml_guard.hpp"

#include <toml++/toml.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#ifndef CAISSON_PROFILE_DIR
#define CAISSON_PROFILE_DIR "/usr/local/share/caisson/profiles"
#endif

namespace caisson::profile {
namespace {

constexpr int kMaxDepth = 8;

std::string where(const std::string& origin, const toml::source_region& src) {
    return origin + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

std::string scalar_text(const toml::node& n, const std::string& at, std::string_view key) {
    if (auto s = n.as_string()) return s->get();
    if (auto i = n.as_integer()) return std::to_string(i->get());
    if (auto f = n.as_floating_point()) {
        std::ostringstream o;
        o << f->get();
        return o.str();
    }
    if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
    throw Error::usage(at + ": '" + std::string(key) + "' takes a string or a number");
}

// One use of a setting, from its TOML node.
std::vector<std::string> use_args(const schema::Setting& s, const toml::node& n, const std::string& at) {
    if (s.arity == 0) {
        auto b = n.as_boolean();
        if (!b) throw Error::usage(at + ": '" + std::string(s.name) + "' takes true or false");
        return {b->get() ? "true" : "false"};
    }
    if (s.arity == 1) return {scalar_text(n, at, s.name)};
    auto arr = n.as_array();
    if (!arr || arr->size() != static_cast<size_t>(s.arity))
        throw Error::usage(at + ": '" + std::string(s.name) + "' takes [" + std::string(s.metavar) + "] (" +
                           std::to_string(s.arity) + " values)");
    std::vector<std::string> out;
    for (const auto& e : *arr) out.push_back(scalar_text(e, at, s.name));
    return out;
}

void apply_table(Policy& policy, const toml::table& table, const std::string& origin, int depth,
                 const std::string& base_dir) {
    if (auto ext = table.get("extends")) {
        auto s = ext->as_string();
        if (!s) throw Error::usage(where(origin, ext->source()) + ": 'extends' takes a profile name or file");
        if (depth >= kMaxDepth)
            throw Error::usage(where(origin, ext->source()) + ": profiles extend each other too deeply (a cycle?)");
        std::string target = s->get();
        // A relative file in `extends` is relative to the profile that names it.
        bool is_file = target.find('/') != std::string::npos ||
                       (target.size() > 5 && target.compare(target.size() - 5, 5, ".toml") == 0);
        if (is_file && target.front() != '/') target = base_dir + "/" + target;
        std::string path = locate(target);
        std::ifstream in(path);
        if (!in) throw Error(ErrorKind::Usage, "read profile", path, errno);
        std::stringstream buf;
        buf << in.rdbuf();
        toml::table parent = toml_guard::parse(buf.str(), path);
        apply_table(policy, parent, path, depth + 1, path.substr(0, path.rfind('/')));
    }
    for (const auto& [key, node] : table) {
        std::string_view k = key.str();
        if (k == "extends") continue;
        std::string at = where(origin, node.source());
        const schema::Setting* s = schema::find(k);
        if (!s) throw Error::usage(at + ": unknown key '" + std::string(k) + "' (see caisson run --help)");
        // A value the setting's parser refuses is reported at the key's line and column.
        auto use = [&](const std::vector<std::string>& args) {
            try {
                s->apply(policy, args);
            } catch (const Error& e) {
                throw Error::usage(at + ": " + e.what());
            }
        };
        if (s->repeatable) {
            auto arr = node.as_array();
            if (!arr) throw Error::usage(at + ": '" + std::string(k) + "' takes a list");
            for (const auto& e : *arr) use(use_args(*s, e, at));
        } else {
            use(use_args(*s, node, at));
        }
    }
}

}  // namespace

std::vector<std::string> search_path() {
    std::vector<std::string> dirs;
    if (const char* env = std::getenv("CAISSON_PROFILE_PATH")) {
        std::string_view rest(env);
        while (!rest.empty()) {
            auto colon = rest.find(':');
            if (colon != 0) dirs.emplace_back(rest.substr(0, colon));
            if (colon == std::string_view::npos) break;
            rest.remove_prefix(colon + 1);
        }
    }
    dirs.emplace_back(CAISSON_PROFILE_DIR);
    return dirs;
}

std::string locate(std::string_view name_or_file) {
    std::string s(name_or_file);
    bool is_file = s.find('/') != std::string::npos ||
                   (s.size() > 5 && s.compare(s.size() - 5, 5, ".toml") == 0);
    if (is_file) {
        if (::access(s.c_str(), R_OK) != 0) throw Error(ErrorKind::Usage, "read profile", s, errno);
        return s;
    }
    if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        }))
        throw Error::usage("--profile: not a profile name", s);
    std::string tried;
    for (const auto& dir : search_path()) {
        std::string path = dir + "/" + s + ".toml";
        if (::access(path.c_str(), R_OK) == 0) return path;
        tried += (tried.empty() ? "" : ", ") + dir;
    }
    throw Error::usage("--profile: no profile named '" + s + "' in " + tried);
}

void apply_text(Policy& policy, std::string_view text, const std::string& origin) {
    toml::table table = toml_guard::parse(text, origin);
    auto slash = origin.rfind('/');
    apply_table(policy, table, origin, 0, slash == std::string::npos ? "." : origin.substr(0, slash));
}

void apply_file(Policy& policy, const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error(ErrorKind::Usage, "read profile", path, errno ? errno : ENOENT);
    std::stringstream buf;
    buf << in.rdbuf();
    apply_text(policy, buf.str(), path);
    policy.profiles.push_back(path);
}

void apply(Policy& policy, std::string_view name_or_file) { apply_file(policy, locate(name_or_file)); }

}  // namespace caisson::profile

namespace caisson {

void apply_profile(Policy& policy, std::string_view name_or_file) { profile::apply(policy, name_or_file); }

}  // namespace caisson
