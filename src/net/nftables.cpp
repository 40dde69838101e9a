#include "net/nftables.hpp"

#include <caisson/error.hpp>

#include <nftables/libnftables.h>

#include <algorithm>
#include <memory>

namespace caisson::net {
namespace {

void run(const std::string& script, const std::string& what) {
    std::unique_ptr<nft_ctx, void (*)(nft_ctx*)> ctx(nft_ctx_new(NFT_CTX_DEFAULT), nft_ctx_free);
    if (!ctx) throw Error(ErrorKind::Setup, "nftables", what, ENOMEM);
    nft_ctx_buffer_output(ctx.get());
    nft_ctx_buffer_error(ctx.get());
    if (nft_run_cmd_from_buffer(ctx.get(), script.c_str()) != 0) {
        std::string err = nft_ctx_get_error_buffer(ctx.get());
        auto nl = err.find('\n');
        throw Error(ErrorKind::Setup, "nftables " + what, err.substr(0, nl), 0);
    }
}

// "add" then "delete": removes the table whether or not it existed, in the same transaction;
// of both families a table of ours has had (the bridge's was "ip" before it was "inet").
std::string drop(const std::string& table) {
    std::string out;
    for (const char* family : {"ip", "inet"})
        out += std::string("add table ") + family + " " + table + "\ndelete table " + family + " " + table + "\n";
    return out;
}

}  // namespace

std::string bridge_table(const std::string& bridge) {
    std::string t = "caisson_" + bridge;
    std::replace(t.begin(), t.end(), '-', '_');
    return t;
}

std::string sandbox_table(const std::string& bridge, const std::string& address_hex) {
    return bridge_table(bridge) + "_" + address_hex;
}

void replace_bridge_table(const std::string& bridge, const std::string& subnet) {
    std::string t = bridge_table(bridge);
    const std::string br = "\"" + bridge + "\"";
    // Sandboxes reach out (masqueraded) and answer; nothing new from them reaches the host
    // itself, and nothing new reaches them but through a published port (DNAT). Of both
    // families ("inet"): the filter chains hold for IPv6 too, which the bridge and the pairs
    // would carry between link-local addresses were it not disabled on them (bridge.cpp), and
    // a host's `net.ipv6.conf.all.disable_ipv6=0` enables it again on every interface.
    run(drop(t) + "table inet " + t + " {\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        "    ip saddr " + subnet + " ip daddr != " + subnet + " masquerade\n"
        "    oifname " + br + " ip saddr 127.0.0.0/8 masquerade\n"
        "  }\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        "    iifname " + br + " ct state established,related accept\n"
        "    iifname " + br + " drop\n"
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy accept;\n"
        "    iifname " + br + " oifname " + br + " drop\n"
        "    oifname " + br + " ct state established,related accept\n"
        "    oifname " + br + " ct status dnat accept\n"
        "    oifname " + br + " drop\n"
        "  }\n"
        "}\n",
        "masquerade for " + subnet);
}

void replace_sandbox_table(const std::string& table, const std::string& address, const std::vector<PortMapping>& ports) {
    std::string rules;
    for (const auto& p : ports)
        rules += std::string("    fib daddr type local ") + (p.udp ? "udp" : "tcp") + " dport " + std::to_string(p.host_port) +
                 " dnat to " + address + ":" + std::to_string(p.sandbox_port) + "\n";
    run(drop(table) + "table ip " + table + " {\n"
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n" + rules + "  }\n"
        "  chain output {\n    type nat hook output priority -100; policy accept;\n" + rules + "  }\n"
        "}\n",
        "published ports of " + address);
}

void delete_table(const std::string& table) { run(drop(table), "delete table " + table); }

}  // namespace caisson::net
