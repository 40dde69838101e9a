// Parsers for the values settings take: sizes, rlimits, time offsets, ids. Pure functions,
// shared by every front end; each throws Error::usage naming the bad value.
#pragma once

#include <caisson/policy.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace caisson::values {

uint64_t parse_size(std::string_view text, std::string_view what);  // 64M, 1G, 4096
uint32_t parse_id(std::string_view text, std::string_view what);
int parse_int(std::string_view text, std::string_view what);
double parse_seconds(std::string_view text, std::string_view what);
bool parse_bool(std::string_view text, std::string_view what);
Rlimit parse_rlimit(std::string_view text);                   // NAME=SOFT[:HARD]
TimeOffsets parse_time_offsets(std::string_view text);        // monotonic=S,boottime=S
int rlimit_from_name(std::string_view name);                  // -1 when unknown
const char* rlimit_name(int resource);
std::string rlimit_value_text(uint64_t v);
// CAP_NET_RAW, NET_RAW, net_raw, or ALL (every capability this kernel... libcap knows).
std::vector<int> parse_capabilities(std::string_view text, std::string_view what);
std::string capability_name(int cap);
double parse_cpus(std::string_view text);                     // 0.5, 2
uint64_t parse_weight(std::string_view text, std::string_view what);  // 1..10000
std::string parse_cpu_list(std::string_view text, std::string_view what);  // "0-3,5", checked
std::vector<uint16_t> cpu_list_members(std::string_view text, std::string_view what);  // {0,1,2,3,5}; each below 1024
IoMax parse_io_max(std::string_view text);                    // MAJ:MIN:rbps=N,wbps=N,...
DeviceRule parse_device_rule(std::string_view text, bool allow);  // "c 1:3 rwm"
std::string device_rule_text(const DeviceRule& r);
void require_absolute(std::string_view path, std::string_view what);

}  // namespace caisson::values
