// The egress proxy's own process (caisson-egress; run/egress_proxy.hpp says what it serves):
// a program of its own, started by the supervisor with its sockets, its counters and its
// configuration on descriptors of fixed numbers (run/egress_wire.hpp). It drops what the
// caller had (ids, capabilities, every other descriptor), takes its own filter and Landlock,
// says so, and only then reads what the sandbox sends.
#include "run/egress_relay.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/egress_listeners.hpp"
#include "mech/monitor_line.hpp"
#include "mech/route_lookup.hpp"
#include "policy/dns_message.hpp"
#include "policy/host_rules.hpp"
#include "policy/http_head.hpp"
#include "policy/seccomp_profile.hpp"
#include "policy/tls_hello.hpp"
#include "run/egress_confinement.hpp"
#include "run/egress_wire.hpp"
#include "run/preflight.hpp"

#include <caisson/error.hpp>
#include <caisson/restrict.hpp>

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/rtnetlink.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/mman.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace caisson::run {

namespace {

using egress_wire::kBlock;
constexpr uint32_t kFirstHost = 2;
constexpr uint32_t kMaxNames = 65000;
constexpr int kMaxConnections = 256;
constexpr int kMaxLookups = 32;
constexpr int kConnectTimeoutMs = 10000;
constexpr int kHeadTimeoutMs = 10000;    // the first bytes: a whole ClientHello or request head
constexpr int kDrainMs = 60000;          // the other way, once one way has ended
constexpr uint32_t kTtl = 60;

using Addresses = std::vector<sockaddr_storage>;

struct Name {
    std::string name;
    Addresses upstream;  // what the host resolved when the question was answered
};

class Proxy {
public:
    Proxy(const egress_wire::Config& c, egress_wire::Shared* shared, int monitor_fd, int audit_fd)
        : rules_(c.rules), shared_(shared), monitor_fd_(monitor_fd), audit_fd_(audit_fd),
          start_(std::chrono::steady_clock::now()) {
        if (c.addresses) egress_ = c.egress;
    }

    void serve(mech::EgressSockets& s) {
        std::vector<pollfd> fds;
        std::vector<int> kinds;  // 0: dns, 1: tcp
        auto add = [&](int fd, int kind) {
            fds.push_back({fd, POLLIN, 0});
            kinds.push_back(kind);
        };
        add(s.dns4.get(), 0);
        if (s.dns6) add(s.dns6.get(), 0);
        for (auto& t : s.tcp) add(t.get(), 1);
        for (;;) {
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                ::_exit(1);
            }
            for (size_t i = 0; i < fds.size(); ++i) {
                if (!(fds[i].revents & POLLIN)) continue;
                if (kinds[i] == 0) question(fds[i].fd);
                else accept_one(fds[i].fd);
            }
        }
    }

private:
    const std::vector<HostRule> rules_;
    Egress egress_;  // an ordinary user's --allow-connect and --deny-private (root's are the kernel's)
    egress_wire::Shared* shared_;
    int monitor_fd_, audit_fd_;
    std::chrono::steady_clock::time_point start_;
    std::mutex mu_;
    std::map<std::string, uint32_t> by_name_;
    std::vector<Name> names_;
    std::atomic<int> connections_{0};
    std::atomic<int> lookups_{0};

    void allowed() { shared_->allowed.fetch_add(1, std::memory_order_relaxed); }
    void reached(const std::string& name, uint16_t port) {
        allowed();
        uint32_t slot = shared_->reached_n.fetch_add(1, std::memory_order_relaxed);
        if (slot < 256) std::snprintf(shared_->reached[slot], sizeof(shared_->reached[slot]), "%s:%u", name.c_str(), port);
    }

    // What the sandbox sent goes into these lines: printable ASCII only (no terminal escapes
    // on --monitor's stream, no bytes that are not UTF-8 in the report), at most 160 bytes.
    void refused(const std::string& raw) {
        const std::string what = mech::printable(raw, 160);
        shared_->refused.fetch_add(1, std::memory_order_relaxed);
        uint32_t slot = shared_->slots.fetch_add(1, std::memory_order_relaxed);
        if (slot < 64) std::snprintf(shared_->refusals[slot], sizeof(shared_->refusals[slot]), "%s", what.c_str());
        if (monitor_fd_ >= 0) {
            mech::write_line_unblocked(monitor_fd_, "caisson: refused " + what + ", by the egress rules (--allow-host)\n");
        }
        if (audit_fd_ >= 0) {
            nlohmann::ordered_json j;
            j["t"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
            j["egress"] = what;
            j["decision"] = "refused";
            j["rule"] = "--allow-host";
            std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
            (void)!::write(audit_fd_, line.data(), line.size());
        }
    }

    // ---- the resolver ----

    void question(int sock) {
        uint8_t buf[1500];
        sockaddr_storage from{};
        iovec in{buf, sizeof(buf)};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))];
        msghdr m{};
        m.msg_name = &from;
        m.msg_namelen = sizeof(from);
        m.msg_iov = &in;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof(control);
        ssize_t n = ::recvmsg(sock, &m, MSG_DONTWAIT);
        if (n <= 0) return;
        // The answer leaves from the address the question went to, as the kernel names it
        // (the listener asked for PKTINFO): a client's socket connected to 127.0.0.53 takes
        // nothing from 127.0.0.1. Everything the answer needs is copied into it: an allowed
        // name is answered later, from a thread of its own, after this frame is gone.
        struct Return {
            sockaddr_storage to;
            socklen_t to_len;
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))];
            size_t control_len;
        } back{};
        back.to = from;
        back.to_len = m.msg_namelen;
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            auto* out = reinterpret_cast<cmsghdr*>(back.control);
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in_pktinfo))) {
                in_pktinfo asked{}, from_there{};
                std::memcpy(&asked, CMSG_DATA(c), sizeof(asked));
                from_there.ipi_spec_dst = asked.ipi_spec_dst;  // the kernel's source for a reply
                out->cmsg_level = IPPROTO_IP;
                out->cmsg_type = IP_PKTINFO;
                out->cmsg_len = CMSG_LEN(sizeof(from_there));
                std::memcpy(CMSG_DATA(out), &from_there, sizeof(from_there));
                back.control_len = CMSG_SPACE(sizeof(from_there));
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
                       c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
                in6_pktinfo asked{}, from_there{};
                std::memcpy(&asked, CMSG_DATA(c), sizeof(asked));
                from_there.ipi6_addr = asked.ipi6_addr;
                out->cmsg_level = IPPROTO_IPV6;
                out->cmsg_type = IPV6_PKTINFO;
                out->cmsg_len = CMSG_LEN(sizeof(from_there));
                std::memcpy(CMSG_DATA(out), &from_there, sizeof(from_there));
                back.control_len = CMSG_SPACE(sizeof(from_there));
            }
        }
        uint16_t id = 0;
        auto q = dns_message::parse_query(buf, static_cast<size_t>(n), &id);
        auto reply = [sock, back](const std::vector<uint8_t>& out) {
            Return b = back;  // sendmsg's pointers are to non-const memory
            iovec body{const_cast<uint8_t*>(out.data()), out.size()};
            msghdr a{};
            a.msg_name = &b.to;
            a.msg_namelen = b.to_len;
            a.msg_iov = &body;
            a.msg_iovlen = 1;
            a.msg_control = b.control_len ? b.control : nullptr;
            a.msg_controllen = b.control_len;
            (void)::sendmsg(sock, &a, MSG_DONTWAIT);
        };
        if (!q) {
            if (n >= 12) reply(dns_message::header_only(id, dns_message::Rcode::FormErr));
            return;
        }
        auto name = host_rules::normalize(q->name);
        if (!name || !host_rules::allowed(rules_, *name)) {
            refused("dns " + (name ? *name : std::string("(not a name)")));
            reply(dns_message::answer(buf, *q, dns_message::Rcode::NxDomain));
            return;
        }
        // The host's resolver may take a while: each allowed question is looked up beside
        // the others, a few at a time.
        if (lookups_.fetch_add(1) >= kMaxLookups) {
            lookups_.fetch_sub(1);
            reply(dns_message::answer(buf, *q, dns_message::Rcode::ServFail));
            return;
        }
        std::vector<uint8_t> query(buf, buf + n);
        try {
            std::thread([this, query = std::move(query), q = *q, name = *name, reply] {
                try {
                    reply(resolve_and_answer(query, q, name));
                } catch (...) {
                }
                lookups_.fetch_sub(1);
            }).detach();
        } catch (const std::system_error&) {  // no thread to be had: answered at once instead
            lookups_.fetch_sub(1);
            reply(dns_message::answer(buf, *q, dns_message::Rcode::ServFail));
        }
    }

    std::vector<uint8_t> resolve_and_answer(const std::vector<uint8_t>& query, const dns_message::Question& q,
                                            const std::string& name) {
        int err = 0;
        Addresses up = lookup(name, &err);
        if (up.empty()) {
            if (err == 0) {  // it resolved, but only to addresses no name may lead to
                refused("dns " + name + " (it resolves only to addresses no name may reach: the host's own, loopback, "
                        "link-local, multicast, unspecified, or --deny-private's)");
                return dns_message::answer(query.data(), q, dns_message::Rcode::NxDomain);
            }
            const bool none = err == EAI_NONAME || err == EAI_NODATA;
            return dns_message::answer(query.data(), q, none ? dns_message::Rcode::NxDomain : dns_message::Rcode::ServFail);
        }
        uint32_t index = pin(name, std::move(up));
        if (index == UINT32_MAX) return dns_message::answer(query.data(), q, dns_message::Rcode::ServFail);
        allowed();
        return dns_message::answer(query.data(), q, dns_message::Rcode::NoError, {address_of(index)}, kTtl);
    }

    // Where no name may lead from the host's network: its loopback (unless the rule names
    // `localhost` itself), link-local addresses (the cloud's metadata service), unspecified,
    // multicast and broadcast addresses, and the block caisson hands out. IPv4 inside IPv6
    // is judged as IPv4. A name that the host resolves there (a DNS rebinding) is refused.
    //
    // Nor the host's own other addresses (a bridge's, the LAN's), where its services listen
    // too: the host itself is reached only through a rule that names localhost.
    bool forbidden(const sockaddr_storage& ss, const std::string& name, uint16_t port) const {
        if (!egress_.deny.empty()) {
            // --deny-private: what a name leads to is judged as a raw address would be, IPv4
            // inside IPv6 as IPv4.
            const uint8_t* a = nullptr;
            bool v6 = false;
            if (ss.ss_family == AF_INET) {
                a = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr);
            } else if (ss.ss_family == AF_INET6) {
                // IPv4 inside IPv6 (mapped, NAT64, 6to4) as the IPv4 address it carries.
                const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
                static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
                if (IN6_IS_ADDR_V4MAPPED(&a6) || std::memcmp(a6.s6_addr, nat64, 12) == 0) a = a6.s6_addr + 12;
                else if (a6.s6_addr[0] == 0x20 && a6.s6_addr[1] == 0x02) a = a6.s6_addr + 2;
                else a = a6.s6_addr, v6 = true;
            }
            if (a && listed(egress_.deny, v6, a, 0) && !listed(egress_.allow, v6, a, 0)) return true;
        }
        if (always_forbidden(ss, name)) return true;
        return !is_local_name(name) && host_local(ss, port);
    }

    // Whether an address (IPv4: 4 bytes, IPv6: 16) and port (0: any) is among `list`'s
    // destinations of its family.
    static bool listed(const std::vector<NetDestination>& list, bool v6, const uint8_t* a, uint16_t port) {
        for (const auto& d : list) {
            if (d.v6 != v6) continue;
            unsigned bits = d.prefix;
            bool same = true;
            for (unsigned i = 0; bits > 0 && same; ++i, bits = bits >= 8 ? bits - 8 : 0) {
                const uint8_t mask = static_cast<uint8_t>(bits >= 8 ? 0xff : 0xff << (8 - bits));
                same = (d.addr[i] & mask) == (a[i] & mask);
            }
            if (same && (port == 0 || (port >= d.port_lo && port <= d.port_hi))) return true;
        }
        return false;
    }

    static bool is_local_name(const std::string& name) { return name == "localhost" || name.ends_with(".localhost"); }

    // Whether an address is one of the host's own, in a network of caisson's sandboxes (a
    // --net veth bridge, which isolates its sandboxes from each other but not from the host,
    // which this proxy connects from), or one a connection could not be judged for: the
    // kernel's route to it, for a TCP connection to `port`, is not another machine's, or goes
    // out through such a bridge. Not known: true.
    static bool host_local(const sockaddr_storage& ss, uint16_t port) {
        const mech::RouteLookup r = mech::route_to(ss, port);
        if (r.type == RTN_UNREACHABLE) return false;
        if (r.type != RTN_UNICAST) return true;
        if (r.oif == 0) return true;  // a route that says no interface: not judged, not let through
        char alias[128];
        return !mech::link_alias(r.oif, alias) || std::strcmp(alias, mech::kVethBridgeAlias) == 0;
    }

    static bool always_forbidden(const sockaddr_storage& ss, const std::string& name) {
        const bool local_name = is_local_name(name);
        const uint8_t* v4 = nullptr;
        uint8_t mapped[4];
        if (ss.ss_family == AF_INET) {
            v4 = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr);
        } else if (ss.ss_family == AF_INET6) {
            const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
            static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
            static const uint8_t aws_metadata[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
            if (std::memcmp(a.s6_addr, aws_metadata, 16) == 0) return true;
            if (IN6_IS_ADDR_V4MAPPED(&a) || IN6_IS_ADDR_V4COMPAT(&a) || std::memcmp(a.s6_addr, nat64, 12) == 0) {
                std::memcpy(mapped, a.s6_addr + 12, 4);  // IPv4 inside IPv6, or through NAT64
                v4 = mapped;
            } else if (a.s6_addr[0] == 0x20 && a.s6_addr[1] == 0x02) {
                std::memcpy(mapped, a.s6_addr + 2, 4);  // 6to4
                v4 = mapped;
            } else {
                if (IN6_IS_ADDR_LOOPBACK(&a)) return !local_name;
                return IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_LINKLOCAL(&a) || IN6_IS_ADDR_MULTICAST(&a) ||
                       IN6_IS_ADDR_SITELOCAL(&a);
            }
        } else {
            return true;
        }
        if (v4[0] == 127) return !local_name;
        const bool alibaba_metadata = v4[0] == 100 && v4[1] == 100 && v4[2] == 100 && v4[3] == 200;
        return v4[0] == 0 || (v4[0] == 169 && v4[1] == 254) || v4[0] >= 224 || (v4[0] == 198 && (v4[1] & 0xfe) == 18) ||
               alibaba_metadata;
    }

    Addresses lookup(const std::string& name, int* err) const {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        Addresses out;
        // A name with a dot is asked as it is (a trailing dot), never with the host's search
        // domains appended (`a.example.com.cluster.local` is another name).
        const std::string asked = name.find('.') == std::string::npos ? name : name + ".";
        int rc = ::getaddrinfo(asked.c_str(), nullptr, &hints, &res);
        if (err) *err = rc;
        if (rc != 0) return out;
        for (addrinfo* a = res; a; a = a->ai_next) {
            sockaddr_storage ss{};
            std::memcpy(&ss, a->ai_addr, std::min<size_t>(a->ai_addrlen, sizeof(ss)));
            if (!forbidden(ss, name, 0)) out.push_back(ss);  // any port: each connection is judged again
        }
        ::freeaddrinfo(res);
        return out;
    }

    uint32_t pin(const std::string& name, Addresses up) {
        std::lock_guard lock(mu_);
        auto it = by_name_.find(name);
        if (it != by_name_.end()) {
            names_[it->second].upstream = std::move(up);
            return it->second;
        }
        if (names_.size() >= kMaxNames) return UINT32_MAX;
        uint32_t index = static_cast<uint32_t>(names_.size());
        names_.push_back({name, std::move(up)});
        by_name_[name] = index;
        return index;
    }

    static std::array<uint8_t, 4> address_of(uint32_t index) {
        uint32_t host = kFirstHost + index;
        return {kBlock[0], kBlock[1], static_cast<uint8_t>(host >> 8), static_cast<uint8_t>(host)};
    }

    std::optional<Name> name_at(const sockaddr_in& local) {
        const auto* a = reinterpret_cast<const uint8_t*>(&local.sin_addr);
        if (a[0] != kBlock[0] || a[1] != kBlock[1]) return std::nullopt;
        uint32_t host = static_cast<uint32_t>(a[2]) << 8 | a[3];
        if (host < kFirstHost) return std::nullopt;
        std::lock_guard lock(mu_);
        if (host - kFirstHost >= names_.size()) return std::nullopt;
        return names_[host - kFirstHost];
    }

    // ---- connections ----

    void accept_one(int listener) {
        int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) return;
        if (connections_.fetch_add(1) >= kMaxConnections) {
            connections_.fetch_sub(1);
            ::close(c);
            return;
        }
        int flags = ::fcntl(c, F_GETFL);
        (void)::fcntl(c, F_SETFL, flags & ~O_NONBLOCK);
        try {
            std::thread([this, c] {
                kernel::Fd conn(c);
                try {
                    connection(conn.get());
                } catch (...) {
                }
                connections_.fetch_sub(1);
            }).detach();
        } catch (const std::system_error&) {  // no thread to be had: the connection is closed
            ::close(c);
            connections_.fetch_sub(1);
        }
    }

    // A connection to an address the resolver gave out: to that name, on a port its rule
    // allows, speaking TLS, HTTP or SSH.
    void connection(int c) {
        sockaddr_in local{};
        socklen_t len = sizeof(local);
        if (::getsockname(c, reinterpret_cast<sockaddr*>(&local), &len) < 0 || local.sin_family != AF_INET) return;
        const uint16_t port = ntohs(local.sin_port);
        if (local.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && port == kEgressProxyPort) return proxy_request(c);
        const auto* raw = reinterpret_cast<const uint8_t*>(&local.sin_addr);
        if (!egress_.allow.empty() && listed(egress_.allow, false, raw, port) && !(raw[0] == kBlock[0] && raw[1] == kBlock[1])) {
            // An address --allow-connect lists (an ordinary user's): straight there, but not
            // to the host itself nor into caisson's sandbox networks, which an address rule
            // cannot name apart from the prefix around them.
            char addr[INET_ADDRSTRLEN] = "?";
            ::inet_ntop(AF_INET, &local.sin_addr, addr, sizeof(addr));
            sockaddr_storage to{};
            std::memcpy(&to, &local, sizeof(local));
            if (host_local(to, port)) {
                refused("connect " + std::string(addr) + ":" + std::to_string(port) +
                        " (the host's own address, or a network of caisson's sandboxes)");
                return;
            }
            kernel::Fd up = connect_upstream(addr, port, {to}, false);
            if (!up) return;
            reached(addr, port);
            return relay(c, up.get());
        }
        auto name = name_at(local);
        if (!name) {  // a name server's address, or one never handed out
            char addr[INET_ADDRSTRLEN] = "?";
            ::inet_ntop(AF_INET, &local.sin_addr, addr, sizeof(addr));
            refused("connect " + std::string(addr) + ":" + std::to_string(port) + " (an address no allowed name was answered with)");
            return;
        }
        const std::string where = name->name + ":" + std::to_string(port);
        if (!host_rules::allowed(rules_, name->name, port)) {
            refused("connect " + where + " (no rule for the port)");
            return;
        }
        std::string first;
        std::optional<http_head::Request> http;
        if (!first_bytes(c, name->name, where, first, http)) return;
        kernel::Fd up = connect_upstream(name->name, port, name->upstream);
        if (!up) return;
        reached(name->name, port);
        if (http) return forward_http(c, up.get(), *http, first);
        if (!write_all(up.get(), first.data(), first.size())) return;
        relay(c, up.get());
    }

    // What the program sends first decides, and it must send it (within 10 s): a TLS
    // ClientHello whose server name, if it has one, is `name`; an HTTP request for `name`
    // (its Host, and its target if absolute); or an SSH identification. Anything else, and
    // a program that waits for the server to speak first, is refused: its bytes would reach
    // the server unread.
    bool first_bytes(int c, const std::string& name, const std::string& where, std::string& buf,
                     std::optional<http_head::Request>& http) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHeadTimeoutMs);
        for (;;) {
            if (buf.empty() && !read_some(c, buf, deadline)) {
                refused("connect " + where + " (nothing sent within 10 s; a program must speak first: TLS, HTTP or SSH)");
                return false;
            }
            auto more = [&] {
                if (read_some(c, buf, deadline)) return true;
                refused("connect " + where + " (an incomplete " + std::string(buf[0] == 0x16 ? "TLS ClientHello" : "request") + ")");
                return false;
            };
            const auto* data = reinterpret_cast<const uint8_t*>(buf.data());
            auto tls = tls_hello::server_name(data, buf.size());
            if (tls.status == tls_hello::Status::NeedMore) {
                if (!more()) return false;
                continue;
            }
            if (tls.status == tls_hello::Status::NoName) return true;
            if (tls.status == tls_hello::Status::Name) {
                auto sni = host_rules::normalize(tls.name);
                if (sni && *sni == name) return true;
                refused("connect " + where + " with TLS server name " + (sni ? *sni : tls.name));
                return false;
            }
            if (tls.status == tls_hello::Status::Bad) {
                refused("connect " + where + " (a malformed TLS ClientHello, or one with two server names)");
                return false;
            }
            if (std::string_view("SSH-").starts_with(std::string_view(buf).substr(0, 4))) {
                if (buf.size() >= 4) return true;
                if (!more()) return false;
                continue;
            }
            if (buf[0] < 'A' || buf[0] > 'Z') {
                refused("connect " + where + " (neither TLS, HTTP nor SSH)");
                return false;
            }
            http_head::Request req;
            auto st = http_head::parse(buf, req);
            if (st == http_head::Status::NeedMore) {
                if (!more()) return false;
                continue;
            }
            if (st == http_head::Status::Bad) {
                refused("connect " + where + " (neither TLS, HTTP nor SSH, or a malformed HTTP request)");
                return false;
            }
            if (!http_for(req, name, where)) return false;
            http = std::move(req);
            return true;
        }
    }

    // An HTTP request sent to `name`'s address: its Host and an absolute target must be it.
    bool http_for(const http_head::Request& req, const std::string& name, const std::string& where) {
        if (req.target.front() != '/') {
            auto uri = http_head::parse_absolute(req.target);
            auto host = uri ? host_rules::normalize(uri->authority.host) : std::nullopt;
            if (!host || *host != name) {
                refused("connect " + where + " with HTTP target " + req.target);
                return false;
            }
        }
        auto host = http_head::header(req, "host");
        if (!host) {
            if (req.version == "HTTP/1.0") return true;
            refused("connect " + where + " (an HTTP/1.1 request without Host)");
            return false;
        }
        auto auth = http_head::parse_authority(*host);
        auto asked = auth ? host_rules::normalize(auth->host) : std::nullopt;
        if (asked && *asked == name) return true;
        refused("connect " + where + " with HTTP Host " + *host);
        return false;
    }

    // One HTTP request on: its head in origin form with `Connection: close`, its body (by
    // Content-Length; a chunked body is refused), then only the answer comes back. A second
    // request on the same connection never reaches the server.
    void forward_http(int c, int up, const http_head::Request& req, const std::string& buf) {
        std::string target = req.target;
        if (target.front() != '/') target = http_head::parse_absolute(target)->path;
        if (http_head::header(req, "transfer-encoding"))
            return answer(c, 501, "caisson: a chunked request body is not passed on (send Content-Length)");
        size_t body = 0;
        if (auto cl = http_head::header(req, "content-length")) {
            if (cl->empty() || cl->size() > 15 || cl->find_first_not_of("0123456789") != std::string::npos)
                return answer(c, 400, "caisson: a Content-Length that is not a number");
            body = std::stoull(*cl);
        }
        std::string head = http_head::forward(req, target);
        std::string rest = buf.substr(req.size, body);
        if (!write_all(up, head.data(), head.size()) || !write_all(up, rest.data(), rest.size())) return;
        size_t left = body - rest.size();
        char tmp[65536];
        while (left) {
            ssize_t n = ::recv(c, tmp, std::min(sizeof(tmp), left), 0);
            if (n <= 0 || !write_all(up, tmp, static_cast<size_t>(n))) return;
            left -= static_cast<size_t>(n);
        }
        for (;;) {
            ssize_t n = ::recv(up, tmp, sizeof(tmp), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || !write_all(c, tmp, static_cast<size_t>(n))) return;
        }
    }

    // The proxy protocol on 127.0.0.1:3128.
    void proxy_request(int c) {
        std::string buf;
        http_head::Request req;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHeadTimeoutMs);
        for (;;) {
            if (!read_some(c, buf, deadline)) return;
            auto st = http_head::parse(buf, req);
            if (st == http_head::Status::Ok) break;
            if (st == http_head::Status::Bad) return answer(c, 400, "caisson: not an HTTP request caisson's proxy takes");
        }
        if (req.method == "CONNECT") {
            auto auth = http_head::parse_authority(req.target);
            auto name = auth ? host_rules::normalize(auth->host) : std::nullopt;
            if (!auth || !auth->port) return answer(c, 400, "caisson: CONNECT needs HOST:PORT");
            const std::string where = (name ? *name : auth->host) + ":" + std::to_string(auth->port);
            if (!name || !host_rules::allowed(rules_, *name, auth->port)) {
                refused("connect " + where + " (proxy)");
                return answer(c, 403, "caisson: " + req.target + " is not allowed (--allow-host)");
            }
            kernel::Fd up = connect_upstream(*name, auth->port, pinned(*name));
            if (!up) return answer(c, 502, "caisson: could not connect to " + req.target);
            const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
            if (!write_all(c, ok.data(), ok.size())) return;
            // The tunnel is judged as a direct connection is.
            std::string first = buf.substr(req.size);
            std::optional<http_head::Request> http;
            if (!first_bytes(c, *name, where + " (proxy)", first, http)) return;
            reached(*name, auth->port);
            if (http) return forward_http(c, up.get(), *http, first);
            if (!write_all(up.get(), first.data(), first.size())) return;
            return relay(c, up.get());
        }
        auto uri = http_head::parse_absolute(req.target);
        if (!uri || uri->scheme != "http")
            return answer(c, 400, "caisson: the proxy takes CONNECT HOST:PORT and http:// URIs");
        const uint16_t port = uri->authority.port ? uri->authority.port : 80;
        auto name = host_rules::normalize(uri->authority.host);
        const std::string where = (name ? *name : uri->authority.host) + ":" + std::to_string(port);
        if (!name || !host_rules::allowed(rules_, *name, port)) {
            refused("connect " + where + " (proxy)");
            return answer(c, 403, "caisson: " + uri->authority.host + ":" + std::to_string(port) + " is not allowed (--allow-host)");
        }
        if (!http_for(req, *name, where + " (proxy)")) return answer(c, 403, "caisson: the request's Host is not the URI's host");
        kernel::Fd up = connect_upstream(*name, port, pinned(*name));
        if (!up) return answer(c, 502, "caisson: could not connect to " + where);
        reached(*name, port);
        forward_http(c, up.get(), req, buf);
    }

    Addresses pinned(const std::string& name) {
        std::lock_guard lock(mu_);
        auto it = by_name_.find(name);
        return it == by_name_.end() ? Addresses{} : names_[it->second].upstream;
    }

    // `judged`: the addresses came from a name, and are held to what names may lead to.
    kernel::Fd connect_upstream(const std::string& name, uint16_t port, Addresses addrs, bool judged = true) {
        if (addrs.empty()) addrs = lookup(name, nullptr);
        if (addrs.empty()) refused("connect " + name + ":" + std::to_string(port) + " (the host resolves it to nothing it may reach)");
        size_t judged_out = 0;
        for (auto& ss : addrs) {
            if (judged && forbidden(ss, name, port)) {
                ++judged_out;
                continue;
            }
            socklen_t len;
            if (ss.ss_family == AF_INET) {
                reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
                len = sizeof(sockaddr_in);
            } else if (ss.ss_family == AF_INET6) {
                reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
                len = sizeof(sockaddr_in6);
            } else {
                continue;
            }
            kernel::Fd s(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
            if (!s) continue;
            if (::connect(s.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0) {
                if (errno != EINPROGRESS) continue;
                pollfd p{s.get(), POLLOUT, 0};
                if (::poll(&p, 1, kConnectTimeoutMs) != 1) continue;
                int err = 0;
                socklen_t el = sizeof(err);
                if (::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) continue;
            }
            int flags = ::fcntl(s.get(), F_GETFL);
            (void)::fcntl(s.get(), F_SETFL, flags & ~O_NONBLOCK);
            return s;
        }
        // Said when every address the name had was judged out since it was answered (it
        // became one of the host's own, say); a connection that failed is the network's.
        if (!addrs.empty() && judged_out == addrs.size())
            refused("connect " + name + ":" + std::to_string(port) + " (it leads only to addresses no name may reach: " +
                    "the host's own, loopback, link-local, --deny-private's, or ones that could not be judged)");
        return kernel::Fd();
    }

    static bool wait_readable(int fd, int ms) {
        pollfd p{fd, POLLIN, 0};
        int n;
        do n = ::poll(&p, 1, ms);
        while (n < 0 && errno == EINTR);
        return n == 1;
    }

    static bool read_some(int fd, std::string& buf, std::chrono::steady_clock::time_point deadline) {
        if (buf.size() >= http_head::kMaxHead) return false;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0 || !wait_readable(fd, static_cast<int>(left))) return false;
        char tmp[4096];
        ssize_t n = ::recv(fd, tmp, std::min(sizeof(tmp), http_head::kMaxHead - buf.size()), 0);
        if (n <= 0) return false;
        buf.append(tmp, static_cast<size_t>(n));
        return true;
    }

    static bool write_all(int fd, const char* p, size_t n) {
        while (n) {
            ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return false;
            p += w;
            n -= static_cast<size_t>(w);
        }
        return true;
    }

    static void answer(int c, int code, const std::string& text) {
        const char* reason = code == 403 ? "Forbidden" : code == 502 ? "Bad Gateway" : code == 501 ? "Not Implemented" : "Bad Request";
        std::string body = text + "\n";
        std::string out = "HTTP/1.1 " + std::to_string(code) + " " + reason +
                          "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
        (void)write_all(c, out.data(), out.size());
    }

    // Both ways until both are done, a thread each (a way that waits to write never stops
    // the other from being read); a side's end of stream becomes a half-close of the other,
    // which then has a minute of quiet at most (a server that never closes does not hold a
    // connection slot for ever). The bytes go through a pipe per way (splice): the kernel
    // moves them, and the proxy never copies them.
    static void relay(int a, int b) {
        std::thread back;
        try {
            back = std::thread([a, b] { pump(b, a); });
        } catch (const std::system_error&) {
            return copy_relay(a, b);
        }
        pump(a, b);
        back.join();
    }

    // One way: `from` to `to` until `from` ends, then `to` half-closed; the other way, which
    // reads from `to`, gets a minute of quiet at most from then on.
    static void pump(int from, int to) {
        struct Done {
            int to;
            ~Done() {
                (void)::shutdown(to, SHUT_WR);
                timeval quiet{kDrainMs / 1000, 0};
                (void)::setsockopt(to, SOL_SOCKET, SO_RCVTIMEO, &quiet, sizeof(quiet));
            }
        } done{to};
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0) return;
        kernel::Fd r(p[0]), w(p[1]);
        (void)::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
        for (;;) {
            ssize_t n = ::splice(from, nullptr, w.get(), nullptr, 1 << 20, SPLICE_F_MOVE);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            while (n > 0) {
                ssize_t m = ::splice(r.get(), nullptr, to, nullptr, static_cast<size_t>(n), SPLICE_F_MOVE);
                if (m < 0 && errno == EINTR) continue;
                if (m <= 0) {
                    (void)::shutdown(from, SHUT_RD);
                    return;
                }
                n -= m;
            }
        }
    }

    // The same by read and write, where no pipe can be had.
    static void copy_relay(int a, int b) {
        pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
        const int peer[2] = {b, a};
        char buf[64 * 1024];
        int open = 2;
        while (open) {
            int n_ready = ::poll(fds, 2, open == 2 ? -1 : kDrainMs);
            if (n_ready < 0) {
                if (errno == EINTR) continue;
                return;
            }
            if (n_ready == 0) return;
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd < 0 || !fds[i].revents) continue;
                ssize_t n = ::recv(fds[i].fd, buf, sizeof(buf), 0);
                if (n > 0) {
                    if (!write_all(peer[i], buf, static_cast<size_t>(n))) return;
                    continue;
                }
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) return;
                (void)::shutdown(peer[i], SHUT_WR);
                fds[i].fd = -1;
                --open;
            }
        }
    }
};

// Nothing the proxy needs from its caller: not root, not a capability, not a descriptor
// but `keep` (the exec left it the supervisor's ids and capabilities).
void confine(bool as_root, const std::vector<int>& keep) {
    std::vector<int> sorted = keep;
    std::sort(sorted.begin(), sorted.end());
    unsigned next = 0;
    auto close_below = [&](unsigned last) {
        if (kernel::close_range(next, last, 0) < 0) throw Error(ErrorKind::Setup, "close_range", "the egress proxy's descriptors", errno);
    };
    for (int fd : sorted) {
        if (static_cast<unsigned>(fd) > next) close_below(static_cast<unsigned>(fd) - 1);
        next = static_cast<unsigned>(fd) + 1;
    }
    close_below(~0U);
    if (as_root) {
        const gid_t nobody_gid = 65534;
        const uid_t nobody_uid = 65534;
        if (::setgroups(0, nullptr) < 0 || ::setresgid(nobody_gid, nobody_gid, nobody_gid) < 0 ||
            ::setresuid(nobody_uid, nobody_uid, nobody_uid) < 0)
            throw Error(ErrorKind::Setup, "setresuid", "the egress proxy, to nobody", errno);
    }
    // No capability either, whoever the caller is (an ordinary user's may hold some).
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct none[2] = {};
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 || ::syscall(SYS_capset, &header, none) < 0)
        throw Error(ErrorKind::Setup, "capset", "the egress proxy, to none", errno);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) throw Error(ErrorKind::Setup, "prctl PR_SET_NO_NEW_PRIVS", "the egress proxy", errno);
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) throw Error(ErrorKind::Setup, "prctl PR_SET_DUMPABLE", "the egress proxy", errno);
}

// The proxy tells the supervisor, on a pipe, that it is confined ('y', then what held, a
// line each) or why it could not be ('n', then the error): the supervisor does not go on
// with a proxy that is not.
void say_confined(int fd, const SelfReport& r) {
    std::string text = "y";
    for (const auto& a : r.applied) text += a + "\n";
    for (const auto& n : r.not_enforced) text += "not enforced: " + n + "\n";
    (void)!::write(fd, text.data(), std::min<size_t>(text.size(), PIPE_BUF));
}


// The configuration, whole, from its sealed memfd (the supervisor wrote it; a few KiB).
std::string read_config() {
    struct stat st{};
    if (::fstat(egress_wire::kConfigFd, &st) < 0) throw Error(ErrorKind::Setup, "fstat", "the egress proxy's configuration", errno);
    if (st.st_size <= 0 || st.st_size > (4 << 20)) throw Error(ErrorKind::Setup, "read", "the egress proxy's configuration", EINVAL);
    std::string text(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    while (got < text.size()) {
        ssize_t n = ::pread(egress_wire::kConfigFd, text.data() + got, text.size() - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Error(ErrorKind::Setup, "read", "the egress proxy's configuration", n < 0 ? errno : EIO);
        got += static_cast<size_t>(n);
    }
    return text;
}

void say_not(const std::string& why) {
    const std::string text = "n" + why;
    (void)!::write(egress_wire::kReadyFd, text.data(), std::min<size_t>(text.size(), PIPE_BUF));
}

}  // namespace

int egress_proxy_main() {
    // A client gone mid-transfer is an error, not a death.
    ::signal(SIGPIPE, SIG_IGN);
    bool serving = false;
    try {
        const egress_wire::Config config = egress_wire::from_json(read_config());
        struct stat st{};
        if (::fstat(egress_wire::kSharedFd, &st) < 0) throw Error(ErrorKind::Setup, "fstat", "the egress proxy's counters", errno);
        if (static_cast<size_t>(st.st_size) < sizeof(egress_wire::Shared))
            throw Error(ErrorKind::Setup, "map", "the egress proxy's counters (too small)", EINVAL);
        void* mem = ::mmap(nullptr, sizeof(egress_wire::Shared), PROT_READ | PROT_WRITE, MAP_SHARED, egress_wire::kSharedFd, 0);
        if (mem == MAP_FAILED) throw Error(ErrorKind::Setup, "mmap", "the egress proxy's counters", errno);
        auto* shared = static_cast<egress_wire::Shared*>(mem);

        mech::EgressSockets sockets;
        int fd = egress_wire::kFirstSocketFd;
        sockets.dns4.reset(fd++);
        if (config.dns6) sockets.dns6.reset(fd++);
        std::vector<int> keep{egress_wire::kReadyFd, sockets.dns4.get()};
        if (sockets.dns6) keep.push_back(sockets.dns6.get());
        for (uint32_t i = 0; i < config.tcp_listeners; ++i) {
            sockets.tcp.emplace_back(fd);
            keep.push_back(fd);
            // A stale wake-up must not block.
            const int flags = ::fcntl(fd, F_GETFL);
            if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw Error(ErrorKind::Setup, "fcntl O_NONBLOCK", "an egress listener", errno);
            ++fd;
        }
        if (config.monitor) keep.push_back(egress_wire::kMonitorFd);
        if (config.audit) keep.push_back(egress_wire::kAuditFd);
        confine(config.as_root, keep);  // the configuration's and the counters' memfds go too
        // It serves only this sandbox: it goes with the supervisor, however that ends. Set
        // after the change of ids, which clears it.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) throw Error(ErrorKind::Setup, "prctl PR_SET_PDEATHSIG", "egress proxy", errno);
        if (::getppid() != config.parent) throw Error(ErrorKind::Setup, "egress proxy", "its supervisor ended before it started");
        Proxy proxy(config, shared, config.monitor ? egress_wire::kMonitorFd : -1, config.audit ? egress_wire::kAuditFd : -1);
        // Before the first byte from the sandbox, and before any thread.
        say_confined(egress_wire::kReadyFd, restrict_self(egress_confinement(config.upstream_ports, ::getpid())));
        ::close(egress_wire::kReadyFd);
        serving = true;
        proxy.serve(sockets);
    } catch (const std::exception& e) {
        // Once serving, descriptor 3 may be a client's connection, and relay threads still
        // use what the stack holds: nothing is said, and nothing is run at exit.
        if (!serving) say_not(e.what());
    } catch (...) {
        if (!serving) say_not("an unexpected exception");
    }
    ::_exit(1);
}

}  // namespace caisson::run
