// Egress by name (--allow-host NAME[:PORTS]): the rules as people write them, and the one
// decision every path of the egress proxy asks (a DNS question, an HTTP CONNECT or Host, a
// TLS server name). Pure: no system calls.
#pragma once

#include <caisson/policy.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caisson::host_rules {

// The ports a rule without any gets: the web's.
inline constexpr uint16_t kDefaultPorts[] = {80, 443};
// Listeners are one per port in the sandbox's namespace: a bound on how many.
inline constexpr size_t kMaxPorts = 32;

// "example.com", "*.example.com:443", "git.example.org:22,443", and "*" for any name (what
// `caisson learn` records the names a run reaches with). Throws Error::usage naming
// `what` and the text when it does not parse.
HostRule parse(std::string_view text, std::string_view what);

// A DNS name as asked: lower case, without a trailing dot; nullopt when it is not one
// (empty labels, labels over 63 bytes, over 253 bytes, bytes other than letters, digits,
// '-' and '_').
std::optional<std::string> normalize(std::string_view name);

// Whether `name` (normalized) matches `pattern`: equal, a `*.` pattern and a name beneath,
// or the pattern `*`, which matches every name but `localhost` and the names beneath it:
// those lead to the host's own loopback, which only a rule that names them opens.
bool matches(std::string_view pattern, std::string_view name);

// Whether some rule lets `name` be reached; with `port` (non-zero), on that port. A name the
// C library reads as an IPv4 address (`167772161`, `0x7f.1`) is never let through.
bool allowed(const std::vector<HostRule>& rules, std::string_view name, uint16_t port = 0);

// Every port some rule allows, sorted and unique.
std::vector<uint16_t> all_ports(const std::vector<HostRule>& rules);

// "*.example.com:80,443", as the policy prints it.
std::string text(const HostRule& rule);

}  // namespace caisson::host_rules
