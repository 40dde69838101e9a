// The pure parts of egress by name: the rules, and the three things the proxy reads from the
// sandbox (a DNS question, a TLS ClientHello, an HTTP request head), malformed input first.
#include "policy/dns_message.hpp"
#include "policy/host_rules.hpp"
#include "policy/http_head.hpp"
#include "policy/tls_hello.hpp"
#include "policy/net_address.hpp"
#include "run/egress_wire.hpp"

#include <caisson/error.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace caisson {
namespace {

TEST(HostRules, NamesPortsAndWildcards) {
    HostRule r = host_rules::parse("Registry.NPMjs.org.", "--allow-host");
    EXPECT_EQ(r.pattern, "registry.npmjs.org");
    EXPECT_EQ(r.ports, (std::vector<uint16_t>{80, 443}));
    HostRule w = host_rules::parse("*.example.com:443,22,443", "--allow-host");
    EXPECT_EQ(w.ports, (std::vector<uint16_t>{22, 443}));
    EXPECT_EQ(host_rules::text(w), "*.example.com:22,443");
    std::vector<HostRule> rules{r, w};
    EXPECT_TRUE(host_rules::allowed(rules, "registry.npmjs.org", 443));
    EXPECT_FALSE(host_rules::allowed(rules, "registry.npmjs.org", 22));
    EXPECT_TRUE(host_rules::allowed(rules, "a.b.example.com", 22));
    EXPECT_FALSE(host_rules::allowed(rules, "example.com")) << "*.NAME is the names beneath, not NAME";
    EXPECT_FALSE(host_rules::allowed(rules, "badexample.com"));
    EXPECT_FALSE(host_rules::allowed(rules, "registry.npmjs.org.evil.com"));
    EXPECT_EQ(host_rules::all_ports(rules), (std::vector<uint16_t>{22, 80, 443}));
    // Any name but the host's loopback, which a rule must name (an attack run reached a host
    // service on 127.0.0.1 through `--allow-host '*'` and the name localhost).
    std::vector<HostRule> any{host_rules::parse("*", "--allow-host")};
    EXPECT_TRUE(host_rules::allowed(any, "example.com", 443));
    for (const char* local : {"localhost", "a.localhost", "b.a.localhost"}) EXPECT_FALSE(host_rules::allowed(any, local)) << local;
    EXPECT_TRUE(host_rules::allowed(any, "localhost.example.com"));
    EXPECT_TRUE(host_rules::allowed({host_rules::parse("localhost", "--allow-host")}, "localhost"));
    EXPECT_TRUE(host_rules::allowed({host_rules::parse("*.localhost", "--allow-host")}, "a.localhost"));
    EXPECT_FALSE(host_rules::allowed(any, *host_rules::normalize("LOCALHOST.")));
    // Addresses in a name's clothes, which the host's resolver hands back as they are.
    for (const char* numeric : {"167772161", "0xa000001", "10.1", "0x7f.1", "2130706433"})
        EXPECT_FALSE(host_rules::allowed(any, numeric)) << numeric;
    EXPECT_FALSE(host_rules::allowed({host_rules::parse("0xa000001", "--allow-host")}, "0xa000001"));
    EXPECT_TRUE(host_rules::allowed(any, "1password.com"));
    for (const char* bad : {"", "*.", "a..b", "10.0.0.1", "x:0", "x:65536", "x:", "x:80,", "a b", "a/b", "*x.com"})
        EXPECT_THROW(host_rules::parse(bad, "--allow-host"), Error) << bad;
    EXPECT_FALSE(host_rules::normalize(std::string(64, 'a') + ".com"));
    EXPECT_FALSE(host_rules::normalize(std::string("a\0b", 3)));
}

std::vector<uint8_t> query(const std::vector<std::string>& labels, uint16_t type, uint16_t qdcount = 1, uint16_t flags = 0x0100) {
    std::vector<uint8_t> q = {0x12, 0x34, static_cast<uint8_t>(flags >> 8), static_cast<uint8_t>(flags), 0,
                              static_cast<uint8_t>(qdcount), 0, 0, 0, 0, 0, 0};
    for (const auto& l : labels) {
        q.push_back(static_cast<uint8_t>(l.size()));
        q.insert(q.end(), l.begin(), l.end());
    }
    q.push_back(0);
    q.insert(q.end(), {0, static_cast<uint8_t>(type), 0, 1});
    return q;
}

TEST(DnsMessage, AQuestionAndItsAnswer) {
    auto q = query({"Example", "COM"}, dns_message::kTypeA);
    auto parsed = dns_message::parse_query(q.data(), q.size());
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->name, "Example.COM");
    EXPECT_EQ(parsed->id, 0x1234);
    auto a = dns_message::answer(q.data(), *parsed, dns_message::Rcode::NoError, {{198, 18, 0, 2}}, 60);
    ASSERT_EQ(a.size(), q.size() + 16);
    EXPECT_EQ(a[0], 0x12);
    EXPECT_EQ(a[3] & 0x0f, 0);  // NOERROR
    EXPECT_EQ(a[7], 1);         // one answer
    EXPECT_EQ(std::vector<uint8_t>(a.end() - 4, a.end()), (std::vector<uint8_t>{198, 18, 0, 2}));
    auto aaaa = query({"example", "com"}, dns_message::kTypeAAAA);
    auto p6 = dns_message::parse_query(aaaa.data(), aaaa.size());
    ASSERT_TRUE(p6);
    auto none = dns_message::answer(aaaa.data(), *p6, dns_message::Rcode::NoError, {{198, 18, 0, 2}}, 60);
    EXPECT_EQ(none[7], 0) << "no A records for an AAAA question";
    auto nx = dns_message::answer(q.data(), *parsed, dns_message::Rcode::NxDomain);
    EXPECT_EQ(nx[3] & 0x0f, 3);
}

TEST(DnsMessage, MalformedQueriesAreRefused) {
    auto q = query({"example", "com"}, dns_message::kTypeA);
    for (size_t cut = 0; cut < q.size(); ++cut) EXPECT_FALSE(dns_message::parse_query(q.data(), cut)) << cut;
    auto two = query({"a"}, 1, 2);
    EXPECT_FALSE(dns_message::parse_query(two.data(), two.size()));
    auto response = query({"a"}, 1, 1, 0x8100);
    EXPECT_FALSE(dns_message::parse_query(response.data(), response.size()));
    auto pointer = query({"a"}, 1);
    pointer[12] = 0xc0;  // a compression pointer where a question's name starts
    EXPECT_FALSE(dns_message::parse_query(pointer.data(), pointer.size()));
    auto dotted = query({"evil.com", "allowed"}, 1);  // a '.' inside a label
    EXPECT_FALSE(dns_message::parse_query(dotted.data(), dotted.size()));
    uint16_t id = 0;
    EXPECT_FALSE(dns_message::parse_query(response.data(), response.size(), &id));
    EXPECT_EQ(id, 0x1234);
}

// A ClientHello as a TLS 1.3 client sends it, reduced to what matters: one cipher suite and
// the extensions given.
std::vector<uint8_t> client_hello(const std::string& sni, bool with_extensions = true) {
    std::vector<uint8_t> body = {0x03, 0x03};
    body.insert(body.end(), 32, 0xaa);          // random
    body.push_back(0);                          // session id
    body.insert(body.end(), {0, 2, 0x13, 0x01});  // cipher suites
    body.insert(body.end(), {1, 0});            // compression
    if (with_extensions) {
        std::vector<uint8_t> ext;
        ext.insert(ext.end(), {0x00, 0x2b, 0, 3, 2, 0x03, 0x04});  // supported_versions
        if (!sni.empty()) {
            const auto n = sni.size();
            ext.insert(ext.end(), {0, 0, static_cast<uint8_t>((n + 5) >> 8), static_cast<uint8_t>(n + 5),
                                   static_cast<uint8_t>((n + 3) >> 8), static_cast<uint8_t>(n + 3), 0,
                                   static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
            ext.insert(ext.end(), sni.begin(), sni.end());
        }
        body.push_back(static_cast<uint8_t>(ext.size() >> 8));
        body.push_back(static_cast<uint8_t>(ext.size()));
        body.insert(body.end(), ext.begin(), ext.end());
    }
    std::vector<uint8_t> hs = {1, 0, static_cast<uint8_t>(body.size() >> 8), static_cast<uint8_t>(body.size())};
    hs.insert(hs.end(), body.begin(), body.end());
    return hs;
}

std::vector<uint8_t> records(const std::vector<uint8_t>& hs, size_t split) {
    std::vector<uint8_t> out;
    for (size_t at = 0; at < hs.size(); at += split) {
        size_t n = std::min(split, hs.size() - at);
        out.insert(out.end(), {0x16, 0x03, 0x01, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
        out.insert(out.end(), hs.begin() + static_cast<long>(at), hs.begin() + static_cast<long>(at + n));
    }
    return out;
}

TEST(TlsHello, TheServerNameOfAClientHello) {
    auto one = records(client_hello("registry.npmjs.org"), 16384);
    auto r = tls_hello::server_name(one.data(), one.size());
    EXPECT_EQ(r.status, tls_hello::Status::Name);
    EXPECT_EQ(r.name, "registry.npmjs.org");
    auto split = records(client_hello("registry.npmjs.org"), 20);  // fragments in many records
    r = tls_hello::server_name(split.data(), split.size());
    EXPECT_EQ(r.status, tls_hello::Status::Name);
    EXPECT_EQ(r.name, "registry.npmjs.org");
    for (size_t cut = 1; cut < split.size(); ++cut)
        EXPECT_EQ(tls_hello::server_name(split.data(), cut).status, tls_hello::Status::NeedMore) << cut;
    auto nameless = records(client_hello(""), 16384);
    EXPECT_EQ(tls_hello::server_name(nameless.data(), nameless.size()).status, tls_hello::Status::NoName);
    auto bare = records(client_hello("", false), 16384);
    EXPECT_EQ(tls_hello::server_name(bare.data(), bare.size()).status, tls_hello::Status::NoName);
    const std::string get = "GET / HTTP/1.1\r\n";
    EXPECT_EQ(tls_hello::server_name(reinterpret_cast<const uint8_t*>(get.data()), get.size()).status, tls_hello::Status::NotTls);
    auto lying = records(client_hello("a.example"), 16384);
    lying[5 + 4 + 2 + 32 + 1 + 4 + 2 + 1] = 0x7f;  // the extensions' length, far past the end
    EXPECT_EQ(tls_hello::server_name(lying.data(), lying.size()).status, tls_hello::Status::Bad);
    // Two server_name extensions: a server would pick one as it likes.
    auto hs = client_hello("a.example");
    {
        std::vector<uint8_t> twice = hs;
        const size_t ext_at = 4 + 2 + 32 + 1 + 4 + 2;  // the extensions' length
        const std::string name = "b.example";
        std::vector<uint8_t> ext = {0, 0, 0, static_cast<uint8_t>(name.size() + 5), 0, static_cast<uint8_t>(name.size() + 3), 0, 0,
                                    static_cast<uint8_t>(name.size())};
        ext.insert(ext.end(), name.begin(), name.end());
        twice.insert(twice.end(), ext.begin(), ext.end());
        const size_t ext_len = (static_cast<size_t>(twice[ext_at]) << 8 | twice[ext_at + 1]) + ext.size();
        twice[ext_at] = static_cast<uint8_t>(ext_len >> 8);
        twice[ext_at + 1] = static_cast<uint8_t>(ext_len);
        const size_t body = twice.size() - 4;
        twice[2] = static_cast<uint8_t>(body >> 8);
        twice[3] = static_cast<uint8_t>(body);
        auto two = records(twice, 16384);
        EXPECT_EQ(tls_hello::server_name(two.data(), two.size()).status, tls_hello::Status::Bad);
    }
    auto not_hello = records(client_hello("a.example"), 16384);
    not_hello[5] = 2;  // a ServerHello
    EXPECT_EQ(tls_hello::server_name(not_hello.data(), not_hello.size()).status, tls_hello::Status::Bad);
}

TEST(HttpHead, ProxyRequestsAndWhatGoesOn) {
    http_head::Request r;
    EXPECT_EQ(http_head::parse("CONNECT registry.npmjs.org:443 HTTP/1.1\r\nHost: registry.npmjs.org:443\r\n", r),
              http_head::Status::NeedMore);
    ASSERT_EQ(http_head::parse("CONNECT registry.npmjs.org:443 HTTP/1.1\r\nHost: registry.npmjs.org:443\r\n\r\nTLS", r),
              http_head::Status::Ok);
    EXPECT_EQ(r.method, "CONNECT");
    EXPECT_EQ(r.size, 73u);
    auto a = http_head::parse_authority(r.target);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "registry.npmjs.org");
    EXPECT_EQ(a->port, 443);
    auto v6 = http_head::parse_authority("[2001:db8::1]:8080");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "2001:db8::1");
    for (const char* bad : {"a:b:c", "x:", "x:99999", "user@host:80", "[::1", "[::1]x"})
        EXPECT_FALSE(http_head::parse_authority(bad)) << bad;

    ASSERT_EQ(http_head::parse("GET http://deb.debian.org/debian/ HTTP/1.1\r\nHost: deb.debian.org\r\n"
                               "Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n", r),
              http_head::Status::Ok);
    auto u = http_head::parse_absolute(r.target);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->scheme, "http");
    EXPECT_EQ(u->authority.host, "deb.debian.org");
    EXPECT_EQ(u->path, "/debian/");
    EXPECT_EQ(http_head::forward(r, u->path),
              "GET /debian/ HTTP/1.1\r\nHost: deb.debian.org\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(http_head::header(r, "HOST"), "deb.debian.org");

    for (const char* bad : {"GET / HTTP/1.1\r\n folded: x\r\n\r\n", "GET / HTTP/2\r\n\r\n", "GET /\r\n\r\n",
                            "G(T / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
                            "GET / HTTP/1.1\r\nX: a\nHost: evil\r\n\r\n",
                            "GET / HTTP/1.1\r\nHost: good\r\nhost: evil\r\n\r\n"})
        EXPECT_EQ(http_head::parse(bad, r), http_head::Status::Bad) << bad;
    EXPECT_EQ(http_head::parse(std::string(http_head::kMaxHead, 'A'), r), http_head::Status::Bad);
}

// What the supervisor tells caisson-egress comes back whole, and anything else is refused.
TEST(EgressWire, TheConfigurationRoundTrips) {
    run::egress_wire::Config c;
    // The third as a library caller may build it: no port, so no port is allowed.
    c.rules = {host_rules::parse("*.example.com:22,443", "x"), host_rules::parse("pypi.org", "x"), HostRule{"portless.example", {}}};
    c.egress.restrict = true;
    c.egress.allow = net_address::parse_destination("10.1.0.0/16:443", "x");
    c.egress.deny = net_address::private_ranges();
    c.addresses = true;
    c.monitor = true;
    c.dns6 = true;
    c.tcp_listeners = 4;
    c.parent = 4242;
    c.upstream_ports = {22, 443};
    const run::egress_wire::Config back = run::egress_wire::from_json(run::egress_wire::to_json(c));
    ASSERT_EQ(back.rules.size(), 3u);
    EXPECT_EQ(back.rules[2].pattern, "portless.example");
    EXPECT_TRUE(back.rules[2].ports.empty());
    EXPECT_EQ(host_rules::text(back.rules[0]), "*.example.com:22,443");
    EXPECT_EQ(host_rules::text(back.rules[1]), "pypi.org:80,443");
    ASSERT_EQ(back.egress.allow.size(), 1u);
    EXPECT_EQ(back.egress.allow[0].addr, c.egress.allow[0].addr);
    EXPECT_EQ(back.egress.allow[0].prefix, 16);
    EXPECT_EQ(back.egress.allow[0].port_lo, 443);
    EXPECT_EQ(back.egress.allow[0].port_hi, 443);
    EXPECT_EQ(back.egress.deny.size(), c.egress.deny.size());
    EXPECT_TRUE(back.egress.restrict);
    EXPECT_TRUE(back.addresses && back.monitor && back.dns6);
    EXPECT_FALSE(back.as_root || back.audit);
    EXPECT_EQ(back.tcp_listeners, 4u);
    EXPECT_EQ(back.parent, 4242);
    EXPECT_EQ(back.upstream_ports, c.upstream_ports);
    EXPECT_THROW(run::egress_wire::from_json("{}"), Error);
    EXPECT_THROW(run::egress_wire::from_json("not json"), Error);
    std::string bad = run::egress_wire::to_json(c);
    bad.replace(bad.find("\"prefix\":16"), 11, "\"prefix\":99");
    ASSERT_NO_THROW((void)nlohmann::json::parse(bad));  // well-formed: refused for the range alone
    EXPECT_THROW(run::egress_wire::from_json(bad), Error);
}

}  // namespace
}  // namespace caisson
