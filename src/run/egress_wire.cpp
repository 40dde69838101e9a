#include "run/egress_wire.hpp"

#include <caisson/error.hpp>

#include <nlohmann/json.hpp>

namespace caisson::run::egress_wire {

namespace {

nlohmann::json destinations(const std::vector<NetDestination>& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : list)
        out.push_back({{"v6", d.v6}, {"addr", d.addr}, {"prefix", d.prefix}, {"lo", d.port_lo}, {"hi", d.port_hi}, {"text", d.text}});
    return out;
}

std::vector<NetDestination> destinations(const nlohmann::json& list) {
    std::vector<NetDestination> out;
    for (const auto& j : list) {
        NetDestination d;
        d.v6 = j.at("v6").get<bool>();
        d.addr = j.at("addr").get<std::array<uint8_t, 16>>();
        const int prefix = j.at("prefix").get<int>();
        const int lo = j.at("lo").get<int>(), hi = j.at("hi").get<int>();
        if (prefix < 0 || prefix > (d.v6 ? 128 : 32) || lo < 0 || hi > 65535 || lo > hi)
            throw Error(ErrorKind::Setup, "egress proxy's configuration", "a destination out of range");
        d.prefix = static_cast<uint8_t>(prefix);
        d.port_lo = static_cast<uint16_t>(lo);
        d.port_hi = static_cast<uint16_t>(hi);
        d.text = j.at("text").get<std::string>();
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace

std::string to_json(const Config& c) {
    nlohmann::json j;
    nlohmann::json rules = nlohmann::json::array();
    // As they are: not through the text form, whose parse would give a rule without ports
    // the default ones, or refuse a pattern a library caller wrote otherwise.
    for (const auto& r : c.rules) rules.push_back({{"pattern", r.pattern}, {"ports", r.ports}});
    j["rules"] = std::move(rules);
    j["restrict"] = c.egress.restrict;
    j["allow"] = destinations(c.egress.allow);
    j["deny"] = destinations(c.egress.deny);
    j["addresses"] = c.addresses;
    j["as_root"] = c.as_root;
    j["monitor"] = c.monitor;
    j["audit"] = c.audit;
    j["dns6"] = c.dns6;
    j["tcp_listeners"] = c.tcp_listeners;
    j["parent"] = c.parent;
    j["upstream_ports"] = c.upstream_ports;
    return j.dump();
}

Config from_json(std::string_view text) {
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        Config c;
        for (const auto& r : j.at("rules"))
            c.rules.push_back({r.at("pattern").get<std::string>(), r.at("ports").get<std::vector<uint16_t>>()});
        c.egress.restrict = j.at("restrict").get<bool>();
        c.egress.allow = destinations(j.at("allow"));
        c.egress.deny = destinations(j.at("deny"));
        c.addresses = j.at("addresses").get<bool>();
        c.as_root = j.at("as_root").get<bool>();
        c.monitor = j.at("monitor").get<bool>();
        c.audit = j.at("audit").get<bool>();
        c.dns6 = j.at("dns6").get<bool>();
        c.tcp_listeners = j.at("tcp_listeners").get<uint32_t>();
        c.parent = j.at("parent").get<pid_t>();
        c.upstream_ports = j.at("upstream_ports").get<std::vector<uint16_t>>();
        return c;
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorKind::Setup, "egress proxy's configuration", e.what());
    }
}

}  // namespace caisson::run::egress_wire
