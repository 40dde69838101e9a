// The supervisor's side of the egress proxy (run/egress_proxy.hpp): the sandbox's listeners,
// made in its network namespace; the proxy started as a program of its own on them
// (caisson-egress, run/egress_relay.cpp); its word that it is confined; its counters.
#include "run/egress_proxy.hpp"

#include "kernel/fd.hpp"
#include "mech/checked_open.hpp"
#include "mech/companion.hpp"
#include "mech/egress_listeners.hpp"
#include "mech/monitor_line.hpp"
#include "policy/host_rules.hpp"
#include "run/egress_wire.hpp"
#include "run/preflight.hpp"

#include <caisson/error.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace caisson::run {

namespace {

// The host's name servers, as the sandbox's resolv.conf names them: the sandbox asks them,
// so they must be addresses on its lo. The file is the root's (an image's, with --rootfs):
// resolved inside it, opened only when it is a regular file (a FIFO would hang caisson, a
// link would lead out), and read up to 64 KiB.
void name_servers(const Policy& p, mech::EgressListenPlan& plan) {
    kernel::Fd root(::open(p.fs.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw Error(ErrorKind::Usage, "--allow-host: open the root", p.fs.rootfs, errno);
    kernel::Fd file(mech::open_checked(root.get(), "etc/resolv.conf", O_RDONLY | O_NONBLOCK | O_CLOEXEC, mech::is_regular));
    if (!file) return;  // none: the C library asks 127.0.0.1, where the resolver is anyway
    std::string text;
    char buf[4096];
    ssize_t n;
    while (text.size() < 64 * 1024 && (n = ::read(file.get(), buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string key, addr;
        words >> key >> addr;
        if (key != "nameserver") continue;
        if (size_t pct = addr.find('%'); pct != std::string::npos) addr.resize(pct);
        std::array<uint8_t, 4> v4{};
        std::array<uint8_t, 16> v6{};
        if (::inet_pton(AF_INET, addr.c_str(), v4.data()) == 1) plan.v4_hosts.push_back(v4);
        else if (::inet_pton(AF_INET6, addr.c_str(), v6.data()) == 1) plan.v6_hosts.push_back(v6);
    }
}


// A memfd of `size` bytes, sealed with `seals` once `fill` has written it.
template <typename Fill>
kernel::Fd sealed_memfd(const char* name, size_t size, unsigned seals, Fill fill) {
    kernel::Fd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) throw Error(ErrorKind::Setup, "memfd_create", name, errno);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) throw Error(ErrorKind::Setup, "ftruncate", name, errno);
    fill(fd.get());
    if (::fcntl(fd.get(), F_ADD_SEALS, seals | F_SEAL_SEAL) < 0) throw Error(ErrorKind::Setup, "seal", name, errno);
    return fd;
}

// Starts caisson-egress with `fds[i]` as its descriptor egress_wire::kReadyFd + i (-1:
// left closed), /dev/null as 0, 1 and 2, nothing else open, no environment (a library
// caller's may hold secrets, and the resolver reads some variables), a clean signal mask,
// in a session of its own (a Ctrl-C at the terminal is the supervisor's to forward).
pid_t spawn_proxy(const std::vector<int>& fds) {
    std::string path = mech::companion_path("caisson-egress", "CAISSON_EGRESS_HELPER", CAISSON_INSTALLED_EGRESS);
    // Root runs it as root until it drops to nobody: only a file that root alone can change.
    if (::geteuid() == 0) path = mech::require_root_owned(path, "start the egress proxy");
    // Each descriptor first goes above every target, so that no dup2 below lands on a
    // source not yet moved.
    const int above = egress_wire::kReadyFd + static_cast<int>(fds.size());
    std::vector<kernel::Fd> moved;
    for (int fd : fds) {
        if (fd < 0) {
            moved.emplace_back();
            continue;
        }
        moved.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, above));
        if (!moved.back()) throw Error(ErrorKind::Setup, "fcntl F_DUPFD_CLOEXEC", "the egress proxy's descriptors", errno);
    }
    posix_spawn_file_actions_t fa;
    if (int rc = posix_spawn_file_actions_init(&fa); rc != 0) throw Error(ErrorKind::Setup, "posix_spawn_file_actions_init", path, rc);
    try {
        int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
        if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, 0, 1);
        if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, 0, 2);
        // An empty slot is closed: the caller's own descriptor of that number (one without
        // close-on-exec) does not reach the proxy.
        for (size_t i = 0; rc == 0 && i < moved.size(); ++i) {
            const int target = egress_wire::kReadyFd + static_cast<int>(i);
            rc = moved[i] ? posix_spawn_file_actions_adddup2(&fa, moved[i].get(), target) : posix_spawn_file_actions_addclose(&fa, target);
        }
        if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&fa, above);
        if (rc != 0) throw Error(ErrorKind::Setup, "posix_spawn_file_actions", path, rc);
        char* argv[] = {const_cast<char*>("caisson-egress"), nullptr};
        char* envp[] = {nullptr};
        const pid_t pid = mech::spawn_clean("start the egress proxy", path, argv, envp, &fa, true);
        posix_spawn_file_actions_destroy(&fa);
        return pid;
    } catch (...) {
        posix_spawn_file_actions_destroy(&fa);
        throw;
    }
}

// The proxy's one word on its start: "y" and what held, or "n" and why not; empty when it
// ended without a word. Confining itself takes milliseconds: a proxy that neither says nor
// ends is not waited for past 30 s.
std::string read_word(int fd) {
    char buf[PIPE_BUF];
    ssize_t n = -1;
    pollfd wait_ready{fd, POLLIN, 0};
    int ready_in;
    do ready_in = ::poll(&wait_ready, 1, 30000);
    while (ready_in < 0 && errno == EINTR);
    if (ready_in == 1) {
        do n = ::read(fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
    }
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

}  // namespace

EgressProxy::EgressProxy(const Policy& p, pid_t sandbox_pid, bool as_root, int monitor_fd, int audit_fd) {
    mech::EgressListenPlan plan;
    std::copy(std::begin(egress_wire::kBlock), std::end(egress_wire::kBlock), plan.block.begin());
    plan.block_prefix = 16;
    name_servers(p, plan);
    plan.tcp_ports = host_rules::all_ports(p.network.allow_hosts);
    // --allow-connect: each prefix made local on the sandbox's lo, and a listener for each of
    // its ports (preflight bounds them); and --deny-private judged here, for the names too.
    // An ordinary user's always; root's beside --allow-host (the launcher attaches no cgroup
    // filter then).
    const bool addresses = p.egress.enabled();
    if (addresses)
        for (const auto& d : p.egress.allow) {
            if (d.v6) continue;
            plan.v4_nets.push_back({{d.addr[0], d.addr[1], d.addr[2], d.addr[3]}, d.prefix});
            for (uint32_t port = d.port_lo; port <= d.port_hi; ++port) plan.tcp_ports.push_back(static_cast<uint16_t>(port));
        }
    std::sort(plan.tcp_ports.begin(), plan.tcp_ports.end());
    plan.tcp_ports.erase(std::unique(plan.tcp_ports.begin(), plan.tcp_ports.end()), plan.tcp_ports.end());
    if (std::find(plan.tcp_ports.begin(), plan.tcp_ports.end(), kEgressProxyPort) == plan.tcp_ports.end())
        plan.tcp_ports.push_back(kEgressProxyPort);
    if (plan.tcp_ports.size() > host_rules::kMaxPorts + 1)
        throw Error::usage("--allow-host: at most " + std::to_string(host_rules::kMaxPorts) + " different ports");

    std::vector<uint16_t> upstream = host_rules::all_ports(p.network.allow_hosts);
    if (addresses)
        for (const auto& d : p.egress.allow)
            for (uint32_t port = d.port_lo; !d.v6 && port <= d.port_hi; ++port) upstream.push_back(static_cast<uint16_t>(port));

    const std::string ns = "/proc/" + std::to_string(sandbox_pid) + "/ns/";
    kernel::Fd netns(::open((ns + "net").c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns) throw Error(ErrorKind::Setup, "--allow-host: open the sandbox's network namespace", ns + "net", errno);
    kernel::Fd userns;
    if (!as_root && p.namespaces.user) {
        userns.reset(::open((ns + "user").c_str(), O_RDONLY | O_CLOEXEC));
        if (!userns) throw Error(ErrorKind::Setup, "--allow-host: open the sandbox's user namespace", ns + "user", errno);
    }
    mech::EgressSockets sockets = mech::make_egress_sockets(userns ? userns.get() : -1, netns.get(), plan);

    egress_wire::Config config;
    config.rules = p.network.allow_hosts;
    if (addresses) config.egress = p.egress;
    config.addresses = addresses;
    config.as_root = as_root;
    config.monitor = monitor_fd >= 0;
    config.audit = audit_fd >= 0;
    config.dns6 = static_cast<bool>(sockets.dns6);
    config.tcp_listeners = static_cast<uint32_t>(sockets.tcp.size());
    config.parent = ::getpid();
    config.upstream_ports = std::move(upstream);
    const std::string text = egress_wire::to_json(config);
    kernel::Fd config_fd = sealed_memfd("caisson-egress-config", text.size(), F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW, [&](int fd) {
        for (size_t done = 0; done < text.size();) {
            ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw Error(ErrorKind::Setup, "write", "caisson-egress-config", n < 0 ? errno : EIO);
            done += static_cast<size_t>(n);
        }
    });
    // The counters: the proxy cannot shrink them under the supervisor's reads (a SIGBUS).
    kernel::Fd shared_fd = sealed_memfd("caisson-egress-counters", sizeof(egress_wire::Shared), F_SEAL_SHRINK | F_SEAL_GROW, [](int) {});
    void* mem = ::mmap(nullptr, sizeof(egress_wire::Shared), PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd.get(), 0);
    if (mem == MAP_FAILED) throw Error(ErrorKind::Setup, "mmap", "caisson-egress-counters", errno);
    shared_.reset(new (mem) egress_wire::Shared());
    // The supervisor only reads them from now on.
    if (::mprotect(mem, sizeof(egress_wire::Shared), PROT_READ) < 0) throw Error(ErrorKind::Setup, "mprotect", "caisson-egress-counters", errno);

    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) < 0) throw Error(ErrorKind::Setup, "pipe2", "egress proxy's start", errno);
    kernel::Fd ready_r(ready[0]), ready_w(ready[1]);
    // In the order of egress_wire's numbers, from kReadyFd on.
    static_assert(egress_wire::kSharedFd == egress_wire::kReadyFd + 1 && egress_wire::kConfigFd == egress_wire::kReadyFd + 2 &&
                  egress_wire::kMonitorFd == egress_wire::kReadyFd + 3 && egress_wire::kAuditFd == egress_wire::kReadyFd + 4 &&
                  egress_wire::kFirstSocketFd == egress_wire::kReadyFd + 5);
    std::vector<int> fds{ready_w.get(), shared_fd.get(), config_fd.get(), monitor_fd, audit_fd, sockets.dns4.get()};
    if (sockets.dns6) fds.push_back(sockets.dns6.get());
    for (auto& t : sockets.tcp) fds.push_back(t.get());
    pid_ = spawn_proxy(fds);
    ready_w.reset();
    try {
        const std::string said = read_word(ready_r.get());
        if (said.empty() || said[0] != 'y')
            throw Error(ErrorKind::Setup, "start the egress proxy", said.empty() ? std::string("it ended before it said it was confined") : said.substr(1), 0);
        std::istringstream lines(said.substr(1));
        for (std::string line; std::getline(lines, line);) confinement_.push_back(line);
    } catch (...) {
        stop();
        throw;
    }
}

void EgressProxy::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

EgressProxy::~EgressProxy() { stop(); }

void EgressProxy::Unmap::operator()(egress_wire::Shared* shared) const { ::munmap(shared, sizeof(egress_wire::Shared)); }

NameEgressReport EgressProxy::report() const {
    NameEgressReport r;
    if (!shared_) return r;
    r.proxy_confinement = confinement_;
    // What the proxy wrote is read as the sandbox's: the proxy parses the sandbox's bytes.
    r.allowed = shared_->allowed.load();
    r.refused = shared_->refused.load();
    uint32_t n = std::min<uint32_t>(shared_->slots.load(), 64);
    for (uint32_t i = 0; i < n; ++i)
        r.refusals.push_back(mech::printable(std::string(shared_->refusals[i], strnlen(shared_->refusals[i], sizeof(shared_->refusals[i]))),
                                             sizeof(shared_->refusals[i])));
    const uint32_t m = std::min<uint32_t>(shared_->reached_n.load(), 256);
    for (uint32_t i = 0; i < m; ++i) {
        std::string one = mech::printable(std::string(shared_->reached[i], strnlen(shared_->reached[i], sizeof(shared_->reached[i]))),
                                          sizeof(shared_->reached[i]));
        if (std::find(r.reached.begin(), r.reached.end(), one) == r.reached.end()) r.reached.push_back(std::move(one));
    }
    return r;
}

}  // namespace caisson::run
