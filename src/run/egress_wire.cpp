#include "run/egress_wire.hpp"

#include "policy/host_rules.hpp"

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
        d.prefix = j.at("prefix").get<uint8_t>();
        d.port_lo = j.at("lo").get<uint16_t>();
        d.port_hi = j.at("hi").get<uint16_t>();
        d.text = j.at("text").get<std::string>();
        if (d.prefix > (d.v6 ? 128 : 32) || d.port_lo > d.port_hi) throw Error(ErrorKind::Setup, "egress proxy's configuration", "a destination out of range");
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace

std::string to_json(const Config& c) {
    nlohmann::json j;
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& r : c.rules) rules.push_back(host_rules::text(r));
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
        for (const auto& r : j.at("rules")) c.rules.push_back(host_rules::parse(r.get<std::string>(), "egress proxy's configuration"));
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
