// Between the supervisor and the egress proxy, which is a program of its own
// (caisson-egress): the proxy reads what the sandbox sends, so it starts from a fresh image,
// not from a fork of its caller's memory (a library caller's secrets, Python's heap), and
// with an empty environment. What it needs comes on descriptors of fixed numbers, set up
// by the supervisor before the exec; everything else is closed.
#pragma once

#include <caisson/policy.hpp>

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace caisson::run::egress_wire {

// The block the resolver hands addresses out of (RFC 2544's benchmarking range, which no
// real host has): 198.18.0.1 is lo's own, names get .0.2 onwards.
inline constexpr uint8_t kBlock[4] = {198, 18, 0, 1};

// 0, 1 and 2 are /dev/null.
inline constexpr int kReadyFd = 3;        // write end: "y" and what held, a line each; or "n" and why
inline constexpr int kSharedFd = 4;       // a memfd of Shared, sealed against shrinking and growing
inline constexpr int kConfigFd = 5;       // a memfd of Config as JSON, sealed against every change
inline constexpr int kMonitorFd = 6;      // --monitor's stream, when Config::monitor
inline constexpr int kAuditFd = 7;        // --audit's file, when Config::audit
inline constexpr int kFirstSocketFd = 8;  // UDP :53 v4, then v6 when Config::dns6, then the TCP listeners

// Counters the proxy writes and the supervisor reads. The supervisor reads every string
// with its bound: the proxy parses the sandbox's bytes and is not trusted with more.
struct Shared {
    // The supervisor maps them read-only: its loads must need no lock.
    static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);
    std::atomic<uint64_t> allowed{0};
    std::atomic<uint64_t> refused{0};
    std::atomic<uint32_t> slots{0};
    char refusals[64][200];
    // The names and ports connections went to (for `caisson learn`), the first 256.
    std::atomic<uint32_t> reached_n{0};
    char reached[256][264];
};

struct Config {
    std::vector<HostRule> rules;  // --allow-host
    Egress egress;                // an ordinary user's --allow-connect and --deny-private; empty as root
    bool addresses = false;       // whether `egress` is served (its prefixes are on the sandbox's lo)
    bool as_root = false;         // the caller is root: the proxy becomes nobody
    bool monitor = false, audit = false, dns6 = false;
    uint32_t tcp_listeners = 0;
    pid_t parent = 0;                      // the supervisor: the proxy dies with it
    std::vector<uint16_t> upstream_ports;  // where Landlock lets it connect (53 added by the proxy)
};

std::string to_json(const Config& c);
// Throws caisson::Error on anything but what to_json writes.
Config from_json(std::string_view text);

}  // namespace caisson::run::egress_wire
