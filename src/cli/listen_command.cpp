#include "cli/listen_command.hpp"
#include "cli/stream_relay.hpp"


#include <caisson/admin.hpp>
#include <caisson/fd.hpp>
#include <caisson/output_file.hpp>
#include <caisson/error.hpp>
#include <caisson/pool.hpp>
#include <caisson/sandbox.hpp>

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <string>

namespace caisson::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Address {
    sockaddr_storage storage{};
    socklen_t length = 0;
};

Address parse_bind(const std::string& text, int port) {
    if (port < 0 || port > 65535) throw Error::usage("--port: expected 0..65535", std::to_string(port));
    Address a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        a.length = sizeof(*v4);
    } else if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        a.length = sizeof(*v6);
    } else {
        throw Error::usage("--address: not an IPv4 or IPv6 address", text);
    }
    return a;
}

struct Endpoint {
    std::string ip, port;
};

Endpoint endpoint(const sockaddr_storage& s) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (s.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&s);
        ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
        return {host, std::to_string(ntohs(v4->sin_port))};
    }
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&s);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
    return {host, std::to_string(ntohs(v6->sin6_port))};
}

// "address" and "address:port" of a peer ("[v6]:port" for IPv6).
std::pair<std::string, std::string> describe(const sockaddr_storage& s) {
    Endpoint e = endpoint(s);
    return {e.ip, s.ss_family == AF_INET ? e.ip + ":" + e.port : "[" + e.ip + "]:" + e.port};
}

// One JSON object per line, in one write: lines of sessions ending at once do not mix.
void log_line(int fd, const nlohmann::json& j) {
    std::string line = j.dump() + "\n";
    (void)!::write(fd, line.data(), line.size());
}

double now_epoch() {
    timespec t{};
    ::clock_gettime(CLOCK_REALTIME, &t);
    return static_cast<double>(t.tv_sec) + t.tv_nsec / 1e9;
}

// How long a session's relay may take, once its sandbox is over, to hand the peer what the
// program wrote.
constexpr int kRelayDrainMs = 10000;

// The child that serves one connection: the connection becomes stdin and stdout, and the
// sandbox runs as under `caisson run`. Never returns.
// A sandbox in a network namespace of its own gets a socket pair whose other end a relay
// process joins to the connection (cli/stream_relay.hpp says why), and the addresses as
// tcpserver gives them (TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT, PROTO); one
// that shares this one's (--share-net) reaches everything the socket would, and is given it.
// With `pool`, the sandbox is one the pool's server built ahead (caisson pool), and the
// session only asks for it and relays its status.
[[noreturn]] void serve(int conn, int log_fd, Policy policy, const std::string& pool, const std::string& peer,
                        const sigset_t& mask) {
    ::sigprocmask(SIG_SETMASK, &mask, nullptr);
    // With the log on stderr (no --log), the program's stderr is /dev/null: a session could
    // otherwise write lines that pass for the log's own (a forged "session" of another peer).
    // The log keeps a descriptor of its own here.
    if (log_fd == 2) {
        int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        int kept = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
        if (null < 0 || kept < 0 || ::dup2(null, 2) < 0) {
            log_line(2, {{"event", "session"}, {"peer", peer}, {"error", std::string("the session's stderr: ") + std::strerror(errno)}});
            ::_exit(kExitUsage);
        }
        ::close(null);
        log_fd = kept;
    }
    nlohmann::json j = {{"event", "session"}, {"peer", peer}, {"pid", ::getpid()}, {"start", now_epoch()}};
    int status = kExitUsage;
    pid_t relay = -1;
    if (network_is_confined(policy)) {
        sockaddr_storage remote{}, local{};
        socklen_t remote_len = sizeof(remote), local_len = sizeof(local);
        int pair[2];
        const char* step = ::getpeername(conn, reinterpret_cast<sockaddr*>(&remote), &remote_len) < 0   ? "getpeername"
                           : ::getsockname(conn, reinterpret_cast<sockaddr*>(&local), &local_len) < 0 ? "getsockname"
                           : ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0            ? "socketpair"
                                                                                                       : nullptr;
        if (step) {
            j["error"] = std::string("the connection's relay: ") + step + ": " + std::strerror(errno);
            log_line(log_fd, j);
            ::_exit(kExitUsage);
        }
        relay = start_stream_relay(conn, pair[0]);
        const int err = errno;
        ::close(pair[0]);
        ::close(conn);
        conn = pair[1];
        if (relay < 0) {
            j["error"] = std::string("fork the connection's relay: ") + std::strerror(err);
            log_line(log_fd, j);
            ::_exit(kExitUsage);
        }
        Endpoint r = endpoint(remote), l = endpoint(local);
        for (auto [name, value] : {std::pair{"PROTO", std::string("TCP")}, {"TCPREMOTEIP", r.ip}, {"TCPREMOTEPORT", r.port},
                                   {"TCPLOCALIP", l.ip}, {"TCPLOCALPORT", l.port}})
            policy.process.run_env.push_back({name, value});
    }
    if (::dup2(conn, 0) < 0 || ::dup2(conn, 1) < 0) {
        j["error"] = std::string("dup2 connection: ") + std::strerror(errno);
    } else {
        ::close(conn);
        try {
            // This process (one per connection) exists for the program: signals are its.
            policy.process.forward_signals = true;
            Outcome out = pool.empty() ? Sandbox(policy).run() : run_in_pool(pool, policy);
            status = out.shell_status();
            j["exit"] = out.exited ? out.exit_code : -1;
            if (!out.exited) j["signal"] = out.term_signal;
            j["duration_ms"] = out.wall_s * 1000;
            j["cpu_ms"] = (out.user_cpu_s + out.system_cpu_s) * 1000;
            j["peak_rss_kb"] = out.peak_rss_kb;
            if (out.oom) j["oom"] = true;
            if (out.time_limit_fired) j["time_limit"] = true;
            if (out.seccomp_violation) j["seccomp_killed"] = out.seccomp_violation->syscall;
        } catch (const std::exception& e) {
            j["error"] = e.what();
        }
    }
    // The peer sees the end of the session now, not when this process is reaped.
    ::close(0);
    ::close(1);
    if (relay > 0) finish_stream_relay(relay, kRelayDrainMs);
    log_line(log_fd, j);
    ::_exit(status & 0xff);
}

struct Session {
    std::string ip;
    Clock::time_point start;
};

}  // namespace

int listen_command(const ListenOptions& o, const Policy& policy) {
    if (o.max_conns < 1) throw Error::usage("--max-conns: expected at least 1", std::to_string(o.max_conns));
    if (o.max_conns_per_ip < 0) throw Error::usage("--max-conns-per-ip: expected 0 (no limit) or more");
    if (policy.process.argv.empty()) throw Error::usage("caisson listen: a program is needed after \"--\"");
    // A session's program would share the listener's terminal, and could take its foreground.
    if (policy.process.tty) throw Error::usage("caisson listen: --tty: a connection's program has no terminal to give");
    // What a pool's sandboxes cannot be given is refused here, not at each connection.
    if (!o.pool.empty() && (!policy.learn_path.empty() || !policy.audit_path.empty() || policy.monitor))
        throw Error::usage("caisson listen --pool: not with --learn, --audit or --monitor (a pool's sandboxes keep no file or stream of the run's)");
    Address addr = parse_bind(o.bind, o.port);

    // As --report's file: perhaps as root, in a directory others may write, so a link, a
    // FIFO or a hard link at the path is refused (caisson/output_file.hpp). Lines are added
    // at its end, as to any log.
    OutputFile log_file;
    int log_fd = 2;
    if (!o.log_path.empty()) {
        log_file = OutputFile(o.log_path, "--log", policy.process.pass_fds);
        log_fd = log_file.fd();
        const int flags = ::fcntl(log_fd, F_GETFL);
        if (flags < 0 || ::fcntl(log_fd, F_SETFL, flags | O_APPEND) < 0) throw Error(ErrorKind::Setup, "fcntl O_APPEND", o.log_path, errno);
    }

    Fd sock(::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) throw Error(ErrorKind::Setup, "socket", o.bind, errno);
    int on = 1;
    if (::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
        throw Error(ErrorKind::Setup, "SO_REUSEADDR", o.bind, errno);
    const std::string where = o.bind + " port " + std::to_string(o.port);
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr.storage), addr.length) < 0)
        throw Error(ErrorKind::Setup, "bind", where, errno);
    if (::listen(sock.get(), o.backlog) < 0) throw Error(ErrorKind::Setup, "listen", where, errno);
    sockaddr_storage bound{};
    socklen_t bound_len = sizeof(bound);
    if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) < 0)
        throw Error(ErrorKind::Setup, "getsockname", where, errno);

    // Children and stop requests arrive as readable events, beside new connections.
    sigset_t wanted, original;
    sigemptyset(&wanted);
    for (int s : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&wanted, s);
    if (::sigprocmask(SIG_BLOCK, &wanted, &original) < 0) throw Error(ErrorKind::Setup, "sigprocmask", "listen", errno);
    Fd sigfd(::signalfd(-1, &wanted, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd) throw Error(ErrorKind::Setup, "signalfd", "listen", errno);

    std::fprintf(stderr, "caisson: listening on %s\n", describe(bound).second.c_str());
    std::fflush(stderr);

    std::map<pid_t, Session> sessions;
    std::map<std::string, int> per_ip;
    bool stopping = false;
    Clock::time_point stop_deadline{}, kill_deadline{};
    uint64_t served = 0, refused = 0;
    bool killed = false;

    auto reap = [&] {
        int status;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
            auto it = sessions.find(pid);
            if (it == sessions.end()) continue;
            // A session that logs nothing itself was killed before it could: say so.
            if (WIFSIGNALED(status))
                log_line(log_fd, {{"event", "session killed"}, {"pid", pid}, {"signal", WTERMSIG(status)}});
            if (--per_ip[it->second.ip] == 0) per_ip.erase(it->second.ip);
            sessions.erase(it);
        }
    };

    while (!stopping || !sessions.empty()) {
        int timeout = -1;
        if (stopping) {
            auto now = Clock::now();
            if (now >= kill_deadline) {
                for (auto& [pid, s] : sessions) ::kill(pid, SIGKILL);
                killed = !sessions.empty();
            } else if (now >= stop_deadline) {
                // The supervisors end their sandboxes and clean up; SIGKILL only if they do not.
                for (auto& [pid, s] : sessions) ::kill(pid, SIGTERM);
                stop_deadline = kill_deadline;
            }
            timeout = 100;
        }
        pollfd p[2] = {{sigfd.get(), POLLIN, 0}, {sock.get(), POLLIN, 0}};
        int rc = ::poll(p, sock ? 2 : 1, timeout);
        if (rc < 0 && errno != EINTR) throw Error(ErrorKind::Setup, "poll", "listen", errno);
        if (rc > 0 && (p[0].revents & POLLIN)) {
            signalfd_siginfo si;
            while (::read(sigfd.get(), &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGCHLD) continue;
                if (!stopping) {
                    stopping = true;
                    sock.reset();  // no new connections; the kernel refuses them from now on
                    stop_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                       std::chrono::duration<double>(o.stop_timeout_s));
                    kill_deadline = stop_deadline + std::chrono::seconds(2);
                    log_line(log_fd, {{"event", "stopping"}, {"sessions", sessions.size()}});
                }
            }
            reap();
        }
        if (rc > 0 && sock && (p[1].revents & POLLIN)) {
            sockaddr_storage peer{};
            socklen_t len = sizeof(peer);
            int conn = ::accept4(sock.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
            if (conn < 0) {
                // A peer that left while queued, or descriptors exhausted for a moment: go on.
                if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
                    log_line(log_fd, {{"event", "accept failed"}, {"error", std::strerror(errno)}});
                continue;
            }
            Fd c(conn);
            auto [ip, who] = describe(peer);
            const char* limit = nullptr;
            if (static_cast<int>(sessions.size()) >= o.max_conns) limit = "max-conns";
            else if (o.max_conns_per_ip && per_ip[ip] >= o.max_conns_per_ip) limit = "max-conns-per-ip";
            if (limit) {
                ++refused;
                log_line(log_fd, {{"event", "refused"}, {"peer", who}, {"limit", limit}});
                continue;  // closing is the answer
            }
            pid_t pid = ::fork();
            if (pid < 0) {
                log_line(log_fd, {{"event", "fork failed"}, {"peer", who}, {"error", std::strerror(errno)}});
                continue;
            }
            if (pid == 0) {
                sock.reset();
                sigfd.reset();
                serve(c.release(), log_fd, policy, o.pool, who, original);
            }
            log_line(log_fd, {{"event", "connect"}, {"peer", who}, {"pid", pid}});
            ++served;
            ++per_ip[ip];
            sessions[pid] = {ip, Clock::now()};
        }
    }
    if (killed) {
        // Supervisors that had to be killed could not remove their cgroups.
        const std::string& parent = policy.resources.cgroup_parent.empty() ? "caisson" : policy.resources.cgroup_parent;
        try {
            (void)collect_leftovers(parent, false);
        } catch (const Error& e) {
            log_line(log_fd, {{"event", "cleanup failed"}, {"error", e.what()}});
        }
    }
    log_line(log_fd, {{"event", "stopped"}, {"served", served}, {"refused", refused}});
    ::sigprocmask(SIG_SETMASK, &original, nullptr);
    return 0;
}

}  // namespace caisson::cli
