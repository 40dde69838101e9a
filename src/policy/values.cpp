#include "policy/values.hpp"

#include <caisson/error.hpp>

#include <linux/capability.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <utility>

namespace caisson::values {
namespace {

struct RlimitName {
    const char* name;
    int resource;
};

constexpr std::array<RlimitName, 16> kRlimits{{
    {"AS", RLIMIT_AS},           {"CORE", RLIMIT_CORE},         {"CPU", RLIMIT_CPU},
    {"DATA", RLIMIT_DATA},       {"FSIZE", RLIMIT_FSIZE},       {"LOCKS", RLIMIT_LOCKS},
    {"MEMLOCK", RLIMIT_MEMLOCK}, {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},
    {"NOFILE", RLIMIT_NOFILE},   {"NPROC", RLIMIT_NPROC},       {"RSS", RLIMIT_RSS},
    {"RTPRIO", RLIMIT_RTPRIO},   {"RTTIME", RLIMIT_RTTIME},     {"SIGPENDING", RLIMIT_SIGPENDING},
    {"STACK", RLIMIT_STACK},
}};

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

uint64_t parse_limit_value(std::string_view text, std::string_view what) {
    if (text == "unlimited" || text == "infinity") return RLIM_INFINITY;
    return parse_size(text, what);
}

}  // namespace

uint64_t parse_size(std::string_view text, std::string_view what) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    std::string_view rest(end, text.data() + text.size() - end);
    uint64_t mult = 1;
    if (rest == "K" || rest == "k" || rest == "KiB") mult = 1ull << 10;
    else if (rest == "M" || rest == "m" || rest == "MiB") mult = 1ull << 20;
    else if (rest == "G" || rest == "g" || rest == "GiB") mult = 1ull << 30;
    else if (rest == "T" || rest == "t" || rest == "TiB") mult = 1ull << 40;
    else if (!rest.empty()) ec = std::errc::invalid_argument;
    if (ec != std::errc() || end == text.data() || value > UINT64_MAX / mult)
        throw Error::usage(std::string(what) + ": not a size (a number with an optional K, M, G or T)",
                           std::string(text));
    return value * mult;
}

uint32_t parse_id(std::string_view text, std::string_view what) {
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v == UINT32_MAX)
        throw Error::usage(std::string(what) + ": not a numeric id", std::string(text));
    return v;
}

int parse_int(std::string_view text, std::string_view what) {
    int v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        throw Error::usage(std::string(what) + ": not an integer", std::string(text));
    return v;
}

double parse_seconds(std::string_view text, std::string_view what) {
    std::string s(text);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0)
        throw Error::usage(std::string(what) + ": not a number of seconds", s);
    return v;
}

bool parse_bool(std::string_view text, std::string_view what) {
    if (text == "true" || text == "1" || text == "yes") return true;
    if (text == "false" || text == "0" || text == "no") return false;
    throw Error::usage(std::string(what) + ": not true or false", std::string(text));
}

int rlimit_from_name(std::string_view name) {
    std::string n = upper(name);
    if (n.rfind("RLIMIT_", 0) == 0) n.erase(0, 7);
    for (const auto& r : kRlimits)
        if (n == r.name) return r.resource;
    return -1;
}

const char* rlimit_name(int resource) {
    for (const auto& r : kRlimits)
        if (r.resource == resource) return r.name;
    return "?";
}

std::string rlimit_value_text(uint64_t v) {
    return v == RLIM_INFINITY ? "unlimited" : std::to_string(v);
}

Rlimit parse_rlimit(std::string_view text) {
    auto eq = text.find('=');
    if (eq == std::string_view::npos)
        throw Error::usage("--rlimit: expected NAME=SOFT[:HARD]", std::string(text));
    Rlimit r;
    r.resource = rlimit_from_name(text.substr(0, eq));
    if (r.resource < 0)
        throw Error::usage("--rlimit: unknown limit name (AS, CORE, CPU, DATA, FSIZE, LOCKS, MEMLOCK, "
                           "MSGQUEUE, NICE, NOFILE, NPROC, RSS, RTPRIO, RTTIME, SIGPENDING, STACK)",
                           std::string(text.substr(0, eq)));
    std::string_view vals = text.substr(eq + 1);
    auto colon = vals.find(':');
    r.soft = parse_limit_value(vals.substr(0, colon), "--rlimit " + std::string(text));
    r.hard = colon == std::string_view::npos ? r.soft
                                              : parse_limit_value(vals.substr(colon + 1),
                                                                  "--rlimit " + std::string(text));
    if (r.soft > r.hard)
        throw Error::usage("--rlimit: soft limit above hard limit", std::string(text));
    return r;
}

TimeOffsets parse_time_offsets(std::string_view text) {
    TimeOffsets t;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t comma = text.find(',', pos);
        std::string_view item = text.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
        auto eq = item.find('=');
        if (eq == std::string_view::npos)
            throw Error::usage("--time-offset: expected monotonic=SECONDS,boottime=SECONDS",
                               std::string(text));
        std::string_view clock = item.substr(0, eq);
        std::string_view num = item.substr(eq + 1);
        int64_t v = 0;
        auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
        if (ec != std::errc() || end != num.data() + num.size() || num.empty())
            throw Error::usage("--time-offset: not a whole number of seconds", std::string(item));
        if (clock == "monotonic") t.monotonic_s = v;
        else if (clock == "boottime") t.boottime_s = v;
        else throw Error::usage("--time-offset: unknown clock (monotonic or boottime)", std::string(clock));
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    return t;
}

void require_absolute(std::string_view path, std::string_view what) {
    if (path.empty() || path.front() != '/')
        throw Error::usage(std::string(what) + ": must be an absolute path", std::string(path));
}

std::vector<int> parse_capabilities(std::string_view text, std::string_view what) {
    std::string name(text);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::vector<int> out;
    if (name == "all") {
        for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) out.push_back(cap);
        return out;
    }
    if (name.rfind("cap_", 0) != 0) name = "cap_" + name;
    cap_value_t v = 0;
    // libcap's names, so that they match getpcaps and capsh.
    if (::cap_from_name(name.c_str(), &v) != 0 || std::all_of(name.begin() + 4, name.end(), ::isdigit))
        throw Error::usage(std::string(what) + ": unknown capability (e.g. CAP_NET_RAW, CAP_SYS_ADMIN, ALL)", std::string(text));
    out.push_back(v);
    return out;
}

std::string capability_name(int cap) {
    char* s = ::cap_to_name(cap);
    std::string out = s ? s : "cap_" + std::to_string(cap);
    if (s) ::cap_free(s);
    for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

double parse_cpus(std::string_view text) {
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || !(v > 0) || v > 4096)
        throw Error::usage("--cpus: expected a positive number of CPUs (e.g. 0.5, 2)", std::string(text));
    return v;
}

uint64_t parse_weight(std::string_view text, std::string_view what) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < 1 || v > 10000)
        throw Error::usage(std::string(what) + ": expected a weight from 1 to 10000 (100 is the default share)",
                           std::string(text));
    return v;
}

std::string parse_cpu_list(std::string_view text, std::string_view what) {
    // "0-3,5": ranges and single numbers, each range ascending.
    auto bad = [&] { return Error::usage(std::string(what) + ": expected a list like 0-3,5", std::string(text)); };
    if (text.empty()) throw bad();
    std::string_view rest = text;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        auto dash = item.find('-');
        unsigned lo = 0, hi = 0;
        auto parse = [&](std::string_view s, unsigned& out) {
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
            if (ec != std::errc() || end != s.data() + s.size() || s.empty()) throw bad();
        };
        parse(item.substr(0, dash), lo);
        hi = lo;
        if (dash != std::string_view::npos) parse(item.substr(dash + 1), hi);
        if (hi < lo || hi > 8191) throw bad();
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
        if (rest.empty()) throw bad();
    }
    return std::string(text);
}

std::vector<uint16_t> cpu_list_members(std::string_view text, std::string_view what) {
    parse_cpu_list(text, what);
    std::vector<uint16_t> out;
    for (std::string_view rest = text; !rest.empty();) {
        auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        auto dash = item.find('-');
        unsigned lo = 0, hi = 0;
        std::from_chars(item.data(), item.data() + (dash == std::string_view::npos ? item.size() : dash), lo);
        hi = lo;
        if (dash != std::string_view::npos) std::from_chars(item.data() + dash + 1, item.data() + item.size(), hi);
        // An affinity mask (cpu_set_t) holds CPUs 0..1023.
        if (hi >= CPU_SETSIZE) throw Error::usage(std::string(what) + ": CPU " + std::to_string(hi) + " is beyond " + std::to_string(CPU_SETSIZE - 1));
        for (unsigned c = lo; c <= hi; ++c) out.push_back(static_cast<uint16_t>(c));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return out;
}

IoMax parse_io_max(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return Error::usage("--io-max: " + why + " (expected MAJ:MIN:rbps=N,wbps=N,riops=N,wiops=N)", std::string(text));
    };
    IoMax m;
    auto c1 = text.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : text.find(':', c1 + 1);
    if (c2 == std::string_view::npos) throw bad("no device");
    auto num = [&](std::string_view s, const char* what) {
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc() || end != s.data() + s.size() || s.empty()) throw bad(std::string("bad ") + what);
        return v;
    };
    m.major = static_cast<uint32_t>(num(text.substr(0, c1), "major number"));
    m.minor = static_cast<uint32_t>(num(text.substr(c1 + 1, c2 - c1 - 1), "minor number"));
    std::string_view rest = text.substr(c2 + 1);
    if (rest.empty()) throw bad("no limit");
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) throw bad("'" + std::string(item) + "' is not KEY=VALUE");
        std::string_view key = item.substr(0, eq);
        uint64_t v = key.ends_with("bps") ? parse_size(item.substr(eq + 1), "--io-max") : num(item.substr(eq + 1), "value");
        if (key == "rbps") m.rbps = v;
        else if (key == "wbps") m.wbps = v;
        else if (key == "riops") m.riops = v;
        else if (key == "wiops") m.wiops = v;
        else throw bad("unknown key '" + std::string(key) + "'");
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return m;
}

DeviceRule parse_device_rule(std::string_view text, bool allow) {
    const char* flag = allow ? "--device-allow" : "--device-deny";
    auto bad = [&](const std::string& why) {
        return Error::usage(std::string(flag) + ": " + why + " (expected TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm')",
                            std::string(text));
    };
    DeviceRule r;
    r.allow = allow;
    std::string t(text);
    std::vector<std::string> parts;
    for (size_t i = 0; i < t.size();) {
        while (i < t.size() && t[i] == ' ') ++i;
        size_t j = i;
        while (j < t.size() && t[j] != ' ') ++j;
        if (j > i) parts.push_back(t.substr(i, j - i));
        i = j;
    }
    if (parts.empty() || parts[0].size() != 1 || std::string("abc").find(parts[0][0]) == std::string::npos)
        throw bad("the type is a, b or c");
    r.type = parts[0][0];
    if (r.type == 'a') {
        if (parts.size() > 1 && parts[1] != "*:*") throw bad("type a takes no device numbers");
        if (parts.size() > 2) r.access = parts[2];
    } else {
        if (parts.size() < 2) throw bad("no device numbers");
        auto colon = parts[1].find(':');
        if (colon == std::string::npos) throw bad("device numbers are MAJOR:MINOR");
        auto number = [&](const std::string& s) -> int64_t {
            if (s == "*") return -1;
            int64_t v = 0;
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v < 0 || v > 0xfffff)
                throw bad("'" + s + "' is not a device number or *");
            return v;
        };
        r.major = number(parts[1].substr(0, colon));
        r.minor = number(parts[1].substr(colon + 1));
        if (parts.size() > 2) r.access = parts[2];
    }
    if (parts.size() > 3) throw bad("too many fields");
    if (r.access.empty() || r.access.find_first_not_of("rwm") != std::string::npos) throw bad("access is made of r, w, m");
    return r;
}

std::string device_rule_text(const DeviceRule& r) {
    auto n = [](int64_t v) { return v < 0 ? std::string("*") : std::to_string(v); };
    return std::string(1, r.type) + " " + n(r.major) + ":" + n(r.minor) + " " + r.access;
}

}  // namespace caisson::values
