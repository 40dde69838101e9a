#include "policy/net_address.hpp"

#include <caisson/error.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace caisson::net_address {
namespace {

[[noreturn]] void bad(std::string_view what, std::string_view text, const std::string& why) {
    throw Error::usage(std::string(what) + ": " + why + " (expected ADDR[/PREFIX][:PORT[-PORT]], [IPV6][/PREFIX][:PORT], loopback, any or none)",
                       std::string(text));
}

unsigned number(std::string_view s, unsigned max, std::string_view what, std::string_view text, const char* name) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > max)
        bad(what, text, std::string("bad ") + name + " '" + std::string(s) + "'");
    return v;
}

void parse_ports(std::string_view s, NetDestination& d, std::string_view what, std::string_view text) {
    auto dash = s.find('-');
    d.port_lo = static_cast<uint16_t>(number(s.substr(0, dash), 65535, what, text, "port"));
    d.port_hi = dash == std::string_view::npos ? d.port_lo
                                               : static_cast<uint16_t>(number(s.substr(dash + 1), 65535, what, text, "port"));
    if (d.port_lo > d.port_hi) bad(what, text, "port range runs backwards");
}

NetDestination make(bool v6, std::string_view addr, int prefix, std::string_view text) {
    NetDestination d;
    d.v6 = v6;
    std::string a(addr);
    inet_pton(v6 ? AF_INET6 : AF_INET, a.c_str(), d.addr.data());
    d.prefix = static_cast<uint8_t>(prefix);
    d.text = std::string(text);
    return d;
}

// Host bits must be zero: 10.1.2.3/8 is more likely a typo than a wish.
void check_host_bits(const NetDestination& d, std::string_view what, std::string_view text) {
    unsigned bytes = d.v6 ? 16 : 4;
    for (unsigned bit = d.prefix; bit < bytes * 8; ++bit)
        if (d.addr[bit / 8] & (0x80 >> (bit % 8)))
            bad(what, text, "address has bits set beyond the /" + std::to_string(d.prefix) + " prefix");
}

}  // namespace

std::vector<NetDestination> parse_destination(std::string_view text, std::string_view what) {
    std::string_view host = text, ports;
    bool bracketed = false;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) bad(what, text, "missing ']'");
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && rest[0] == '/') {
            auto colon = rest.find(':');
            host = text.substr(1, close - 1);
            std::string_view pfx = rest.substr(0, colon);
            ports = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
            if (colon != std::string_view::npos && ports.empty()) bad(what, text, "empty port");
            std::vector<NetDestination> out = parse_destination(std::string(host) + std::string(pfx), what);
            for (auto& d : out) {
                d.text = std::string(text);
                if (!ports.empty()) parse_ports(ports, d, what, text);
            }
            return out;
        }
        if (!rest.empty()) {
            if (rest[0] != ':' || rest.size() == 1) bad(what, text, "expected ':PORT' after ']'");
            ports = rest.substr(1);
        }
        bracketed = true;
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        auto colon = text.find(':');
        host = text.substr(0, colon);
        ports = text.substr(colon + 1);
        if (ports.empty()) bad(what, text, "empty port");
    }
    std::string_view addr = host;
    int prefix = -1;
    if (auto slash = host.find('/'); slash != std::string_view::npos) {
        addr = host.substr(0, slash);
        prefix = -2;  // parsed below, once the family is known
    }
    std::vector<NetDestination> out;
    if (addr == "loopback" && prefix == -1 && !bracketed) {
        out.push_back(make(false, "127.0.0.0", 8, text));
        out.push_back(make(true, "::1", 128, text));
    } else if (addr == "any" && prefix == -1 && !bracketed) {
        out.push_back(make(false, "0.0.0.0", 0, text));
        out.push_back(make(true, "::", 0, text));
    } else {
        std::string a(addr);
        uint8_t buf[16];
        bool v4 = inet_pton(AF_INET, a.c_str(), buf) == 1;
        bool v6 = !v4 && inet_pton(AF_INET6, a.c_str(), buf) == 1;
        if (!v4 && !v6) bad(what, text, "not an IPv4 or IPv6 address: '" + a + "'");
        if (bracketed && v4) bad(what, text, "brackets are for IPv6 addresses");
        int bits = v6 ? 128 : 32;
        if (prefix == -2)
            prefix = static_cast<int>(number(host.substr(host.find('/') + 1), static_cast<unsigned>(bits), what, text, "prefix length"));
        else
            prefix = bits;
        out.push_back(make(v6, addr, prefix, text));
        check_host_bits(out.back(), what, text);
    }
    if (!ports.empty())
        for (auto& d : out) parse_ports(ports, d, what, text);
    return out;
}

std::vector<NetDestination> private_ranges() {
    static constexpr const char* kRanges[] = {
        "0.0.0.0/8",    "10.0.0.0/8",      "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.168.0.0/16",  "198.18.0.0/15", "224.0.0.0/3", "::/127",         "fc00::/7",
        "fe80::/10",    "ff00::/8",        "64:ff9b:1::/48",
        // IPv4 behind IPv6: NAT64's well-known prefix and 6to4 can carry a private address.
        "64:ff9b::/96", "2002::/16"};
    std::vector<NetDestination> out;
    for (const char* r : kRanges)
        for (auto& d : parse_destination(r, "private range")) {
            d.text = "private " + std::string(r);
            out.push_back(std::move(d));
        }
    return out;
}

void deny_local(Egress& e, const std::vector<NetDestination>& local) {
    if (e.deny.empty()) return;
    // Whether `outer` holds all of `inner`: the same family, and inner's address within
    // outer's prefix, for every port.
    auto holds = [](const NetDestination& outer, const NetDestination& inner) {
        if (outer.v6 != inner.v6 || outer.prefix > inner.prefix || outer.port_lo != 0 || outer.port_hi != 65535) return false;
        for (unsigned i = 0, bits = outer.prefix; bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
            const uint8_t mask = static_cast<uint8_t>(bits >= 8 ? 0xff : 0xff << (8 - bits));
            if ((outer.addr[i] & mask) != (inner.addr[i] & mask)) return false;
        }
        return true;
    };
    for (const auto& d : local)
        if (std::none_of(e.deny.begin(), e.deny.end(), [&](const NetDestination& r) { return holds(r, d); }))
            e.deny.push_back(d);
}

std::string endpoint_text(bool v6, const uint8_t* addr, uint16_t port) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(v6 ? AF_INET6 : AF_INET, addr, buf, sizeof(buf));
    return v6 ? "[" + std::string(buf) + "]:" + std::to_string(port) : std::string(buf) + ":" + std::to_string(port);
}

NetDestination parse_subnet(std::string_view text, std::string_view what) {
    auto v = parse_destination(text, what);
    if (v.size() != 1 || v[0].v6 || v[0].port_lo != 0 || v[0].port_hi != 65535 || text.find('/') == std::string_view::npos)
        throw Error::usage(std::string(what) + ": expected an IPv4 subnet ADDR/PREFIX", std::string(text));
    if (v[0].prefix < 8 || v[0].prefix > 30)
        throw Error::usage(std::string(what) + ": the prefix must be 8 to 30 bits", std::string(text));
    return v[0];
}

std::array<uint8_t, 4> subnet_host(const NetDestination& subnet, uint32_t n) {
    uint32_t base = (uint32_t{subnet.addr[0]} << 24) | (uint32_t{subnet.addr[1]} << 16) | (uint32_t{subnet.addr[2]} << 8) | subnet.addr[3];
    uint32_t a = base + n;
    return {static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16), static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a)};
}

uint32_t subnet_hosts(const NetDestination& subnet) { return (uint32_t{1} << (32 - subnet.prefix)) - 2; }

bool overlaps(const uint8_t a[4], unsigned a_prefix, const uint8_t b[4], unsigned b_prefix) {
    unsigned bits = std::min(a_prefix, b_prefix);
    for (unsigned bit = 0; bit < bits; ++bit) {
        uint8_t m = static_cast<uint8_t>(0x80 >> (bit % 8));
        if ((a[bit / 8] & m) != (b[bit / 8] & m)) return false;
    }
    return true;
}

std::string ipv4_text(const uint8_t addr[4]) {
    return std::to_string(addr[0]) + "." + std::to_string(addr[1]) + "." + std::to_string(addr[2]) + "." + std::to_string(addr[3]);
}

PortMapping parse_publish(std::string_view text) {
    PortMapping m;
    std::string_view rest = text;
    if (rest.starts_with("tcp:")) rest.remove_prefix(4);
    else if (rest.starts_with("udp:")) m.udp = true, rest.remove_prefix(4);
    auto colon = rest.find(':');
    auto port = [&](std::string_view s) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v == 0 || v > 65535)
            throw Error::usage("--publish: expected [tcp:|udp:]HOST_PORT[:SANDBOX_PORT], ports 1 to 65535", std::string(text));
        return static_cast<uint16_t>(v);
    };
    m.host_port = port(rest.substr(0, colon));
    m.sandbox_port = colon == std::string_view::npos ? m.host_port : port(rest.substr(colon + 1));
    return m;
}

}  // namespace caisson::net_address
