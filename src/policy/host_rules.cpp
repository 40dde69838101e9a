#include "policy/host_rules.hpp"

#include "policy/values.hpp"

#include <caisson/error.hpp>

#include <arpa/inet.h>

#include <algorithm>

namespace caisson::host_rules {

std::optional<std::string> normalize(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > 253) return std::nullopt;
    std::string out;
    out.reserve(name.size());
    size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0) return std::nullopt;
            label = 0;
            out += c;
            continue;
        }
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++label > 63) return std::nullopt;
        out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    if (label == 0) return std::nullopt;
    return out;
}

bool matches(std::string_view pattern, std::string_view name) {
    // `*` is how unknown code is let out to learn what it reaches (`caisson learn`); the
    // host's own services on loopback are not part of "any name".
    if (pattern == "*") return name != "localhost" && !name.ends_with(".localhost");
    if (pattern.starts_with("*.")) {
        std::string_view suffix = pattern.substr(1);  // ".example.com"
        return name.size() > suffix.size() && name.ends_with(suffix);
    }
    return pattern == name;
}

bool allowed(const std::vector<HostRule>& rules, std::string_view name, uint16_t port) {
    // What the C library reads as an IPv4 address (`167772161`, `0xa000001`, `10.1`) is one,
    // which a host's resolver would hand back as it is: never a name (still no raw address).
    in_addr a{};
    if (::inet_aton(std::string(name).c_str(), &a) != 0) return false;
    for (const auto& r : rules)
        if (matches(r.pattern, name) && (port == 0 || std::binary_search(r.ports.begin(), r.ports.end(), port))) return true;
    return false;
}

HostRule parse(std::string_view text, std::string_view what) {
    auto bad = [&](const std::string& why) {
        return Error::usage(std::string(what) + ": " + why + " (expected NAME[:PORT[,PORT...]], NAME a DNS name or *.NAME)",
                            std::string(text));
    };
    std::string_view name = text, ports;
    if (size_t colon = text.find(':'); colon != std::string_view::npos) {
        name = text.substr(0, colon);
        ports = text.substr(colon + 1);
        if (ports.empty()) throw bad("no port after ':'");
    }
    HostRule r;
    if (name == "*") {
        r.pattern = "*";  // any name (still no raw address): what `caisson learn` records names with
    }
    const bool wildcard = name.starts_with("*.");
    if (r.pattern.empty()) {
        auto norm = normalize(wildcard ? name.substr(2) : name);
        if (!norm) throw bad("not a DNS name");
        if (norm->find_first_not_of("0123456789.") == std::string::npos)
            throw bad("an address, not a name (--allow-connect takes addresses)");
        r.pattern = (wildcard ? "*." : "") + *norm;
    }
    while (!ports.empty()) {
        size_t comma = ports.find(',');
        std::string_view one = ports.substr(0, comma);
        int port = 0;
        try {
            port = values::parse_int(std::string(one), std::string(what));
        } catch (const Error&) {
            throw bad("'" + std::string(one) + "' is not a port");
        }
        if (port < 1 || port > 65535) throw bad("'" + std::string(one) + "' is not a port (1-65535)");
        r.ports.push_back(static_cast<uint16_t>(port));
        ports = comma == std::string_view::npos ? std::string_view{} : ports.substr(comma + 1);
        if (comma != std::string_view::npos && ports.empty()) throw bad("no port after ','");
    }
    if (r.ports.empty()) r.ports.assign(std::begin(kDefaultPorts), std::end(kDefaultPorts));
    std::sort(r.ports.begin(), r.ports.end());
    r.ports.erase(std::unique(r.ports.begin(), r.ports.end()), r.ports.end());
    return r;
}

std::vector<uint16_t> all_ports(const std::vector<HostRule>& rules) {
    std::vector<uint16_t> out;
    for (const auto& r : rules) out.insert(out.end(), r.ports.begin(), r.ports.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string text(const HostRule& rule) {
    std::string out = rule.pattern;
    for (size_t i = 0; i < rule.ports.size(); ++i) out += (i ? "," : ":") + std::to_string(rule.ports[i]);
    return out;
}

}  // namespace caisson::host_rules
