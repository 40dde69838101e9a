// Egress by name (--allow-host): the sandbox reaches the names its rules allow through
// caisson's resolver and proxy, and nothing else. The upstream is a small HTTP server on the
// host's loopback that says which Host it was asked for; the name is `localhost`, which the
// host resolves to it. Inside, /etc/hosts is replaced by one without `localhost`, so that
// the C library asks caisson's resolver, as it would for any name on the internet.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <poll.h>
#include <linux/landlock.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <thread>

namespace caisson::test {
namespace {

namespace fs = std::filesystem;

// Answers each request with "host=HOST" (the Host header it got), one request per connection.
class HostEcho {
public:
    HostEcho() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0 && ::listen(fd_, 16) == 0 &&
              ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0 && ::pipe2(stop_, O_CLOEXEC) == 0;
        port_ = ntohs(a.sin_port);
        if (ok_) thread_ = std::thread([this] { serve(); });
    }
    ~HostEcho() {
        if (thread_.joinable()) {
            (void)!::write(stop_[1], "x", 1);
            thread_.join();
        }
        ::close(fd_);
        ::close(stop_[0]);
        ::close(stop_[1]);
    }
    bool ok() const { return ok_; }
    std::string port() const { return std::to_string(port_); }
    int requests() const { return requests_.load(); }

private:
    void serve() {
        for (;;) {
            pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) continue;
            if (fds[1].revents) return;
            int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            timeval limit{5, 0};
            ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
            std::string head;
            char buf[4096];
            ssize_t n;
            while (head.find("\r\n\r\n") == std::string::npos && (n = ::read(c, buf, sizeof(buf))) > 0) head.append(buf, static_cast<size_t>(n));
            std::string host;
            if (auto at = head.find("\r\nHost: "); at != std::string::npos) host = head.substr(at + 8, head.find("\r\n", at + 8) - at - 8);
            if (!head.empty()) ++requests_;
            std::string body = "host=" + host;
            std::string out = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
            (void)!::write(c, out.data(), out.size());
            ::close(c);
        }
    }
    int fd_ = -1;
    int stop_[2] = {-1, -1};
    int port_ = 0;
    bool ok_ = false;
    std::atomic<int> requests_{0};
    std::thread thread_;
};

// /etc/hosts for inside: nothing of the names the tests ask for.
std::string hosts_without_localhost(const TempDir& dir) {
    std::string path = dir.path() + "/hosts";
    std::ofstream(path) << "127.0.0.1 not-what-we-ask\n";
    return path;
}

// The kernel's Landlock ABI, as caisson asks for it; 0 without Landlock.
int landlock_abi() {
    long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : static_cast<int>(v);
}

bool has(const nlohmann::json& list, const std::string& part) {
    for (const auto& e : list)
        if (e.get<std::string>().find(part) != std::string::npos) return true;
    return false;
}

void expect_only_the_allowed_name(const RunOptions& opts) {
    HostEcho echo;
    ASSERT_TRUE(echo.ok());
    TempDir dir(opts.as_uid ? *opts.as_uid : 0);
    const std::string p = echo.port(), report = dir.path() + "/report.json";
    RunResult r = run_probe({"--allow-host", "localhost:" + p, "--ro-bind", hosts_without_localhost(dir), "/etc/hosts",
                             "--report", report},
                            {"--resolve", "localhost",                        // allowed: an address of caisson's
                             "--resolve", "not-allowed.invalid",              // any other name: NXDOMAIN
                             "--http-get", "localhost:" + p,                  // to the host's server, by name
                             "--http-get", "localhost:" + p + ":elsewhere.invalid",  // a Host that is not the name
                             "--http-get", "localhost:1",                     // a port no rule names: no listener
                             "--dial", "tcp:10.1.2.3:80",                     // a raw address: no route
                             "--http-get", "127.0.0.1:" + p + ":localhost"},  // the sandbox's own loopback, not the host's
                            opts);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& resolved = r.probe["resolve"];
    EXPECT_EQ(resolved["localhost"].get<std::string>().rfind("198.18.", 0), 0u) << resolved.dump();
    EXPECT_EQ(resolved["not-allowed.invalid"], "EAI_NONAME");
    const auto& got = r.probe["http_get"];
    EXPECT_NE(got["localhost:" + p].get<std::string>().find("host=localhost"), std::string::npos) << got.dump();
    EXPECT_EQ(got["localhost:" + p + ":elsewhere.invalid"].get<std::string>().find("200 OK"), std::string::npos) << got.dump();
    EXPECT_EQ(got["localhost:1"], "ECONNREFUSED") << got.dump();
    EXPECT_EQ(r.probe["dials"]["tcp:10.1.2.3:80"], "ENETUNREACH");
    // caisson's listener for the port takes it, and closes it: not a name it answered with.
    EXPECT_EQ(got["127.0.0.1:" + p + ":localhost"].get<std::string>().find("200 OK"), std::string::npos) << got.dump();
    EXPECT_EQ(echo.requests(), 1) << "only the allowed request reached the host";

    nlohmann::json rep = nlohmann::json::parse(read_file(report));
    ASSERT_TRUE(rep.contains("egress_names")) << rep.dump();
    const auto& refusals = rep["egress_names"]["refusals"];
    EXPECT_TRUE(has(refusals, "dns not-allowed.invalid")) << refusals.dump();
    EXPECT_TRUE(has(refusals, "with HTTP Host elsewhere.invalid")) << refusals.dump();
    EXPECT_TRUE(has(refusals, "connect 127.0.0.1:" + p + " (an address no allowed name")) << refusals.dump();
    EXPECT_GE(rep["egress_names"]["allowed"].get<int>(), 1);
    EXPECT_TRUE(has(rep["protections"], "egress by name")) << rep["protections"].dump();
    // The proxy said what confines it before the sandbox could send it anything.
    const auto& held = rep["egress_names"]["proxy_confinement"];
    EXPECT_TRUE(has(held, "seccomp egress-proxy")) << held.dump();
    EXPECT_TRUE(has(held, "no-new-privs")) << held.dump();
    if (landlock_abi() >= 1) EXPECT_TRUE(has(held, "landlock")) << held.dump();
}

TEST(EgressNames, OnlyTheAllowedNameIsReachedThroughCaissonsResolver) { expect_only_the_allowed_name({}); }

// A host with systemd-resolved names 127.0.0.53 in resolv.conf; the C library's socket is
// connected there and takes answers from that address alone. caisson's resolver, on every
// address of lo, answers from the one each question went to (it answered from 127.0.0.1,
// and no name resolved on such a host).
TEST(EgressNames, TheResolverAnswersFromTheAddressAsked) {
    TempDir dir;
    const std::string resolv = dir.path() + "/resolv.conf";
    std::ofstream(resolv) << "nameserver 127.0.0.53\noptions edns0 trust-ad\n";
    RunResult r = run_probe({"--allow-host", "localhost:1", "--ro-bind", hosts_without_localhost(dir), "/etc/hosts",
                             "--ro-bind", resolv, "/etc/resolv.conf"},
                            {"--resolve", "localhost"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["resolve"]["localhost"].get<std::string>().rfind("198.18.", 0), 0u) << r.probe["resolve"].dump();
}

// An allowed name is answered later, from a thread of its own, and to its own asker: a
// question that came meanwhile (a refused name, answered at once) does not take the answer
// (it did once: the late answer went to the address of whoever asked next).
TEST(EgressNames, EachAnswerGoesToItsOwnAsker) {
    TempDir dir;
    RunResult r = run_probe({"--allow-host", "localhost:1", "--ro-bind", hosts_without_localhost(dir), "/etc/hosts"},
                            {"--dns-pair", "localhost,refused.invalid"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["dns_pair"]["localhost,refused.invalid"], "10,0,0,10,0,0") << "A own,other,none; B own,other,none";
}

// `--allow-host '*'` (what `caisson learn` lets unknown code out with) is every name but the
// host's loopback: an attack run reached a service of the host on 127.0.0.1 through the name
// localhost. The same request to a rule that names localhost is expect_only_the_allowed_name's.
TEST(EgressNames, AnyNameIsNotTheHostsLoopback) {
    HostEcho echo;
    ASSERT_TRUE(echo.ok());
    TempDir dir;
    const std::string p = echo.port();
    RunResult r = run_probe({"--allow-host", "*:" + p, "--ro-bind", hosts_without_localhost(dir), "/etc/hosts"},
                            {"--resolve", "localhost", "--resolve", "a.localhost", "--http-get", "localhost:" + p});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["resolve"]["localhost"], "EAI_NONAME") << r.probe["resolve"].dump();
    EXPECT_EQ(r.probe["resolve"]["a.localhost"], "EAI_NONAME") << r.probe["resolve"].dump();
    EXPECT_EQ(r.probe["http_get"]["localhost:" + p].get<std::string>().find("200 OK"), std::string::npos)
        << r.probe["http_get"].dump();
    EXPECT_EQ(echo.requests(), 0) << "the host's loopback service was reached";
}

TEST(EgressNames, AnOrdinaryUserGetsTheSame) {
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    expect_only_the_allowed_name(o);
}

// Programs that honour http_proxy: CONNECT and absolute http:// requests, decided by name.
TEST(EgressNames, TheProxyDecidesConnectAndHttpRequestsByName) {
    if (::access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "curl is not installed (scripts/setup.sh installs it)";
    HostEcho echo;
    ASSERT_TRUE(echo.ok());
    const std::string p = echo.port();
    // --noproxy '': curl would otherwise go straight to a `localhost` it resolves itself.
    const std::string curl = "curl -s -o /dev/null -w '%{http_code} ' --noproxy '' --max-time 5 ";
    RunResult r = run_caisson({"run", "--allow-host", "localhost:" + p, "--", "/bin/sh", "-c",
                               curl + "http://localhost:" + p + "/; " + curl + "-p http://localhost:" + p + "/; " + curl +
                                   "http://not-allowed.invalid:" + p + "/; " + curl + "-p http://not-allowed.invalid:" + p +
                                   "/; " + curl + "http://localhost:" + p + "/ -H 'Host: elsewhere.invalid'; echo"});
    ASSERT_EQ(r.status, 0) << r.err;
    // Plain and tunnelled to the allowed name; refused (403) for another, by URI or by Host;
    // a refused CONNECT leaves curl with no status of the target (000).
    EXPECT_EQ(r.out, "200 200 403 000 403 \n") << r.err;
    EXPECT_EQ(echo.requests(), 2);
}

// A hostile program's first bytes: a delay, a leading CRLF, a lowercase method, a second
// request behind an allowed one. Only the allowed request reaches the server.
TEST(EgressNames, WhatTheProgramSendsFirstIsJudgedAndAloneGoesOn) {
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "python3 is not installed";
    HostEcho echo;
    ASSERT_TRUE(echo.ok());
    TempDir dir;
    const std::string p = echo.port();
    const std::string script = dir.path() + "/send.py";
    std::ofstream(script) << "import socket, sys, time\n"
                             "addr = (socket.gethostbyname('localhost'), " + p + ")\n"
                             "def send(data, wait=0):\n"
                             "    s = socket.create_connection(addr, timeout=5)\n"
                             "    time.sleep(wait)\n"
                             "    s.sendall(data)\n"
                             "    got = b''\n"
                             "    try:\n"
                             "        while True:\n"
                             "            b = s.recv(4096)\n"
                             "            if not b: break\n"
                             "            got += b\n"
                             "    except OSError: pass\n"
                             "    print(repr(data[:12]), b'200 OK' in got, b'host=elsewhere' in got)\n"
                             "send(b'GET / HTTP/1.1\\r\\nHost: elsewhere.invalid\\r\\n\\r\\n', wait=1)\n"
                             "send(b'\\r\\nGET / HTTP/1.1\\r\\nHost: elsewhere.invalid\\r\\n\\r\\n')\n"
                             "send(b'get / HTTP/1.1\\r\\nHost: elsewhere.invalid\\r\\n\\r\\n')\n"
                             "send(b'GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\nGET / HTTP/1.1\\r\\nHost: elsewhere.invalid\\r\\n\\r\\n')\n";
    ::chmod(dir.path().c_str(), 0755);
    ::chmod(script.c_str(), 0644);
    RunResult r = run_caisson({"run", "--allow-host", "localhost:" + p, "--ro-bind", hosts_without_localhost(dir), "/etc/hosts",
                               "--ro-bind", script, "/tmp/send.py", "--", "/usr/bin/python3", "/tmp/send.py"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "b'GET / HTTP/1' False False\n"
                     "b'\\r\\nGET / HTTP' False False\n"
                     "b'get / HTTP/1' False False\n"
                     "b'GET / HTTP/1' True False\n")
        << r.err;
    EXPECT_EQ(echo.requests(), 1) << "the second request behind the allowed one never reached the server";
}

// caisson learn with `--allow-host '*'`: any name may be reached, and the run profile it
// writes allows exactly the names and ports that were.
TEST(EgressNames, LearnWritesTheNamesReachedIntoTheRunProfile) {
    HostEcho echo;
    ASSERT_TRUE(echo.ok());
    TempDir dir;
    const std::string p = echo.port(), profile = dir.path() + "/run.toml";
    // `*` is any name but the host's loopback, which the test's server is on: a second rule
    // names it (AnyNameIsNotTheHostsLoopback).
    RunResult r = run_caisson({"learn", "--allow-host", "*:" + p, "--allow-host", "localhost:" + p, "--ro-bind",
                               hosts_without_localhost(dir), "/etc/hosts",
                               "--ro-bind", probe_path(), kProbeInside, "--output", dir.path() + "/learned.toml",
                               "--profile-output", profile, "--no-verify", "--", kProbeInside, "--http-get", "localhost:" + p});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(read_file(profile).find("allow-host = [\"localhost:" + p + "\"]"), std::string::npos) << read_file(profile);
    EXPECT_EQ(echo.requests(), 1);
}

// The proxy reads what the sandbox sends: if a bug in it were taken over, it must hold
// nothing of its caller. It is a program of its own, exec'd (not a fork with a copy of the
// caller's memory: a library caller's secrets), with an empty environment, nothing open but
// its sockets, no capability, and, as root's, nobody's ids.
void expect_a_proxy_with_nothing_of_its_caller(const RunOptions& base) {
    const std::string secret = "caisson-test-secret-5b1d2e";  // in caisson's environment and argv
    RunOptions o = base;
    o.env.push_back("CAISSON_TEST_SECRET=" + secret);
    std::string exe, environ_text, status, memory_error;
    std::vector<std::string> fds;
    bool secret_in_memory = false;
    size_t memory_read = 0;
    o.on_ready = [&](pid_t caisson) {
        // caisson's children, by their parent as /proc/PID/stat gives it.
        std::vector<std::string> children;
        for (auto& e : fs::directory_iterator("/proc")) {
            const std::string name = e.path().filename().string();
            if (name.find_first_not_of("0123456789") != std::string::npos) continue;
            const std::string stat = read_file(e.path().string() + "/stat");
            const size_t close = stat.rfind(')');
            int ppid = 0;
            if (close != std::string::npos && std::sscanf(stat.c_str() + close + 1, " %*c %d", &ppid) == 1 && ppid == caisson)
                children.push_back(name);
        }
        for (const auto& pid : children) {
            const std::string proc = "/proc/" + pid;
            std::error_code ec;
            const std::string e = fs::read_symlink(proc + "/exe", ec).string();
            if (!e.ends_with("/caisson-egress")) continue;
            exe = e;
            environ_text = read_file(proc + "/environ");
            status = read_file(proc + "/status");
            for (auto& fd : fs::directory_iterator(proc + "/fd")) fds.push_back(fs::read_symlink(fd.path(), ec).string());
            // Its whole memory, as root reads it.
            std::ifstream maps(proc + "/maps");
            const int mem = ::open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
            if (mem < 0) memory_error = "open " + proc + "/mem: " + std::strerror(errno);
            for (std::string line; mem >= 0 && std::getline(maps, line);) {
                unsigned long lo = 0, hi = 0;
                char perms[5] = {};
                if (std::sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) != 3 || perms[0] != 'r') continue;
                std::string region(hi - lo, '\0');
                ssize_t n = ::pread(mem, region.data(), region.size(), static_cast<off_t>(lo));
                if (n <= 0) continue;
                memory_read += static_cast<size_t>(n);
                region.resize(static_cast<size_t>(n));
                if (region.find(secret) != std::string::npos) secret_in_memory = true;
            }
            if (mem >= 0) ::close(mem);
        }
        ::kill(caisson, SIGTERM);
    };
    RunResult r = run_probe({"--allow-host", "example.com", "--setenv", "UNUSED=" + secret}, {"--wait-signal"}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_FALSE(exe.empty()) << "no caisson-egress among caisson's children";
    EXPECT_EQ(environ_text, "") << "the proxy's environment";
    EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos) << status;
    EXPECT_NE(status.find("Seccomp:\t2"), std::string::npos) << status;
    EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos) << status;
    EXPECT_NE(status.find("CapPrm:\t0000000000000000"), std::string::npos) << status;
    const std::string uid = base.as_uid ? std::to_string(*base.as_uid) : "65534";
    EXPECT_NE(status.find("Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid), std::string::npos) << status;
    ASSERT_FALSE(fds.empty());
    for (const auto& fd : fds) EXPECT_EQ(fd.rfind("socket:", 0), 0u) << "the proxy holds " << fd;
    // Yama's mode 3 lets no one read another process's memory, root included.
    if (read_file("/proc/sys/kernel/yama/ptrace_scope").rfind("3", 0) == 0) {
        std::printf("the proxy's memory not read: kernel.yama.ptrace_scope is 3\n");
        return;
    }
    EXPECT_TRUE(memory_error.empty()) << memory_error;
    EXPECT_GT(memory_read, 0u);
    EXPECT_FALSE(secret_in_memory) << "the caller's secret is in the proxy's memory";
}

TEST(EgressNames, TheProxyIsAProgramOfItsOwnWithNothingOfItsCaller) { expect_a_proxy_with_nothing_of_its_caller({}); }

TEST(EgressNames, AnOrdinaryUsersProxyHoldsNothingOfItsCallerEither) {
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    expect_a_proxy_with_nothing_of_its_caller(o);
}

// Without its proxy program, nothing starts, and the error names the program and why.
TEST(EgressNames, AMissingProxyProgramIsAClearError) {
    RunOptions o;
    o.env.push_back("CAISSON_EGRESS_HELPER=/nonexistent/caisson-egress");
    expect_refused({"--allow-host", "example.com"}, "start the egress proxy: /nonexistent/caisson-egress: No such file or directory", o);
}

// Root runs the proxy as root until it drops its ids: a program that another user could
// rewrite is not run.
TEST(EgressNames, RootRunsNoProxyProgramAnotherUserCouldRewrite) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    TempDir dir;
    const std::string copy = dir.path() + "/caisson-egress";
    fs::copy_file(fs::path(caisson_path()).parent_path() / "caisson-egress", copy);
    ASSERT_EQ(::chmod(copy.c_str(), 0775), 0);
    RunOptions o;
    o.env.push_back("CAISSON_EGRESS_HELPER=" + copy);
    expect_refused({"--allow-host", "example.com"}, "must be a file owned by root that no one else may write (owner 0, mode 0775)", o);
}

TEST(EgressNames, BadRulesAndOtherNetworksAreRefused) {
    expect_refused({"--allow-host", "10.0.0.1"}, "an address, not a name");
    expect_refused({"--allow-host", "bad..name"}, "not a DNS name");
    expect_refused({"--allow-host", "example.com:0"}, "not a port");
    expect_refused({"--allow-host", "example.com:"}, "no port after ':'");
    expect_refused({"--allow-host", "example.com", "--net", "host"}, "only way out must be caisson's proxy");
    expect_refused({"--allow-host", "example.com", "--net", "user"}, "only way out must be caisson's proxy");
    expect_refused({"--allow-host", "example.com", "--cap-add", "CAP_NET_ADMIN"}, "CAP_NET_ADMIN");
}

}  // namespace
}  // namespace caisson::test
