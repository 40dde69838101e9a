// The warm pool (caisson/pool.hpp). The server keeps `size` workers: each is a fork of it that
// builds one sandbox with Sandbox::run_prepared and says when it waits for a program. The
// server accepts each caller and hands the connection to the sandbox that has waited
// longest; that worker checks the caller's policy against the pool's, hands the program
// over, runs it, answers with the status and then the report, and exits: one sandbox, one
// program. The caller's end going away ends its sandbox. Replacements are built once the
// callers pause.
#include <caisson/pool.hpp>

#include "kernel/fd.hpp"
#include "mech/fd_passing.hpp"
#include "mech/fds.hpp"
#include "mech/parent_watch.hpp"
#include "mech/trusted_dir.hpp"
#include "mech/unix_socket.hpp"
#include "run/preflight.hpp"

#include <caisson/error.hpp>
#include <caisson/settings.hpp>

#include <climits>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <deque>
#include <cstring>
#include <map>
#include <vector>

namespace caisson {
namespace {

// A request (the policy as JSON, argv, environment) and an answer (the report) fit here.
constexpr size_t kMaxPacket = 192 * 1024;
constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// The part of a policy that must be the pool's: all but the command line and where the
// caller writes its report. With it, what else decides the sandbox and is not in the policy:
// whose it is (the uid; its homes, which are hidden, come from HOME, XDG_* and GNUPGHOME)
// and where it stands (its user and mount namespaces: a caller inside another sandbox may
// not ask the pool for a sandbox outside its own).
// It is text, compared as text: serialising and parsing it as a JSON tree on both sides cost
// a pooled start a third of its CPU. Only a refusal parses it, to name what differs.
std::string comparable(const Policy& policy) {
    Policy p = policy;
    // The program's command line and what is set for this run alone are the run's (the
    // request carries them), not the sandbox's. The environment's settings are the policy's:
    // a pool that scrubs or pins a variable does not serve a run that keeps or sets it.
    p.process.argv.clear();
    p.process.run_env.clear();
    p.report_path.clear();
    std::string text = policy_to_json(p);
    while (!text.empty() && text.back() != '}') text.pop_back();
    if (text.empty()) throw Error(ErrorKind::Setup, "pool", "the policy as JSON", EPROTO);
    nlohmann::json caller = {{"uid", ::geteuid()}, {"gid", ::getegid()}};
    for (const char* var : {"HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "GNUPGHOME"}) {
        const char* v = std::getenv(var);
        caller[var] = v ? v : "";
    }
    // --workdir binds the directory the sandbox is made in: the caller must stand in the pool's.
    if (policy.fs.workdir) {
        char cwd[PATH_MAX];
        caller["cwd"] = ::getcwd(cwd, sizeof(cwd)) ? cwd : "";
    }
    for (const char* ns : {"user", "mnt"}) {
        char target[64] = {};
        ssize_t n = ::readlink((std::string("/proc/self/ns/") + ns).c_str(), target, sizeof(target) - 1);
        caller[ns] = n > 0 ? std::string(target, static_cast<size_t>(n)) : "";
    }
    text.pop_back();
    return text + ",\"caller\":" + caller.dump() + "}";
}

// The keys of the two policies that differ, for the refusal.
std::string differences(const std::string& pool_text, const std::string& theirs_text) {
    nlohmann::json pool = nlohmann::json::parse(pool_text, nullptr, false);
    nlohmann::json theirs = nlohmann::json::parse(theirs_text, nullptr, false);
    if (!pool.is_object() || !theirs.is_object()) return "the whole policy";
    std::string out;
    for (const auto& [key, value] : pool.items())
        if (!theirs.contains(key) || theirs[key] != value) out += (out.empty() ? "" : ", ") + key;
    for (const auto& [key, value] : theirs.items())
        if (!pool.contains(key)) out += (out.empty() ? "" : ", ") + key;
    return out.empty() ? "their text" : out;
}

// One SOCK_SEQPACKET packet whole, in a buffer of its size (a packet may be up to
// kMaxPacket, but most are tens of bytes: no 192 KiB to clear for each).
ssize_t recv_packet(int sock, std::string& buf, int* fds = nullptr, size_t* nfds = nullptr) {
    ssize_t size = ::recv(sock, nullptr, 0, MSG_PEEK | MSG_TRUNC);
    if (size < 0) return size;
    buf.resize(std::min(static_cast<size_t>(size), kMaxPacket));
    if (fds) return mech::recv_with_fds(sock, buf.data(), buf.size(), fds, nfds);
    return ::recv(sock, buf.data(), buf.size(), 0);
}

bool send_json(int sock, const nlohmann::json& j, const int* fds = nullptr, size_t nfds = 0) {
    std::string text;
    try {
        text = j.dump();
    } catch (const nlohmann::json::exception&) {
        return false;  // not UTF-8: the caller says so
    }
    return text.size() <= kMaxPacket && mech::send_with_fds(sock, text.data(), text.size(), fds, nfds);
}

kernel::Fd unix_socket(const std::string& path, sockaddr_un& a, const char* what) {
    a = {};
    a.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(a.sun_path)) throw Error(ErrorKind::Usage, what, path, ENAMETOOLONG);
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    kernel::Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!s) throw Error(ErrorKind::Setup, what, "socket", errno);
    return s;
}

// One worker: one sandbox, at most one program. `link` is its socket to the server: it says
// "R" once its sandbox waits for a program, and "E" + why when the sandbox could not be
// built; the server hands it one caller's connection (SCM_RIGHTS). The server's end closing
// means the pool stops, and a sandbox nobody took goes unused.
[[noreturn]] void worker(const Policy& policy, int link) {
    // Built at idle priority: on a machine with few cores a refill must not take CPU from
    // the runs it serves. Only root can come back from SCHED_IDLE (CAP_SYS_NICE), which the
    // worker does when it is given a caller, and the sandbox's init when its program arrives.
    if (::geteuid() == 0) {
        sched_param idle{};
        (void)::sched_setscheduler(0, SCHED_IDLE, &idle);
    }
    const std::string mine = comparable(policy);
    kernel::Fd conn;
    std::vector<kernel::Fd> streams;
    auto next = [&]() -> std::optional<PreparedProgram> {
        // Built: a caller is served at the normal priority from the moment it comes (the
        // waiting init was given it back by run_prepared already).
        if (::sched_getscheduler(0) == SCHED_IDLE) {
            sched_param normal{};
            (void)::sched_setscheduler(0, SCHED_OTHER, &normal);
        }
        (void)!::write(link, "R", 1);
        char byte;
        int c = -1;
        size_t n_c = 1;
        if (mech::recv_with_fds(link, &byte, 1, &c, &n_c) <= 0 || n_c != 1) return std::nullopt;
        conn.reset(c);
        // A caller that never sends its request does not hold the sandbox for long.
        timeval wait{10, 0};
        (void)::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
        std::string buf;
        int got_fds[3] = {-1, -1, -1};
        size_t n_fds = 3;
        ssize_t n = recv_packet(c, buf, got_fds, &n_fds);
        for (size_t i = 0; i < n_fds; ++i) streams.emplace_back(got_fds[i]);
        try {
            if (mech::peer_uid(c) != static_cast<long>(::geteuid())) throw Error::usage("only the pool's own user may use it");
            // What the request says of where the caller stands is its own word; the kernel's
            // is checked too. A program in another sandbox that reaches this socket gets no
            // sandbox outside its own, whatever it sends.
            if (std::string why = mech::peer_stands_elsewhere(c); !why.empty())
                throw Error::usage("a pool serves callers that stand where it does: " + why);
            if (n <= 0 || n_fds != 3) throw Error::usage("a request with a policy, a program and three standard streams");
            for (const auto& fd : streams)
                if (std::string why = mech::way_out_through(fd.get()); !why.empty())
                    throw Error::usage("process.stdio (the program's standard streams): " + why);
            nlohmann::json req = nlohmann::json::parse(buf.substr(0, static_cast<size_t>(n)));
            const std::string theirs = req.at("policy").get<std::string>();
            if (theirs != mine) {
                std::string diff = differences(mine, theirs);
                throw Error::usage("this pool's policy differs from the run's in: " + diff +
                                   " (a pool serves its own policy only; run without --pool, or start a pool with this one)");
            }
            PreparedProgram program;
            program.argv = req.at("argv").get<std::vector<std::string>>();
            program.env = req.at("env").get<std::vector<std::string>>();
            if (program.argv.empty() || program.argv[0].empty()) throw Error::usage("no command to run");
            for (int i = 0; i < 3; ++i) program.stdio[i] = streams[static_cast<size_t>(i)].release();
            program.control = c;
            // The status goes out at once; the report follows once the sandbox is down, which
            // is done at idle priority again: the next caller's run goes first.
            program.exited = [c](int status) {
                send_json(c, {{"status", status}});
                if (::geteuid() == 0) {
                    sched_param idle{};
                    (void)::sched_setscheduler(0, SCHED_IDLE, &idle);
                }
            };
            send_json(c, {{"accepted", true}});
            return program;
        } catch (const std::exception& e) {
            if (!send_json(c, {{"error", e.what()}})) send_json(c, {{"error", "a bad request"}});
            conn.reset();
            return std::nullopt;  // refused: this sandbox goes unused
        }
    };
    int status = 0;
    try {
        // The pool's policy has no command; the sandbox is built without one.
        Policy held = policy;
        held.process.argv = {"true"};
        Outcome out = Sandbox(std::move(held)).run_prepared(next);
        if (conn) {
            nlohmann::json answer = {{"status", out.shell_status()}, {"report", outcome_to_json(out)}};
            if (!send_json(conn.get(), answer)) send_json(conn.get(), {{"status", out.shell_status()}, {"report_too_large", true}});
        }
    } catch (const Error& e) {
        if (conn) send_json(conn.get(), {{"error", e.what()}});
        else {
            // Built nothing: the server stops rather than make the same failure again and again.
            std::string line = std::string("E") + e.what();
            (void)!::write(link, line.data(), line.size());
        }
        status = 1;
    }
    ::_exit(status);
}

}  // namespace

int serve_pool(const Policy& policy, const PoolOptions& o) {
    if (o.size < 1) throw Error::usage("--size: at least 1");
    // Learn mode lets every call through and records; an audit file would be truncated by
    // every sandbox: neither is a pool's.
    if (!policy.learn_path.empty() || !policy.audit_path.empty() || policy.monitor)
        throw Error::usage("a pool serves no --learn, --audit or --monitor: learn mode lets every call through, the "
                           "file would be every sandbox's, and the refusals would go to the pool's standard error");
    if (policy.process.tty) throw Error::usage("a pool's sandboxes have no terminal to give (--tty)");
    if (!policy.process.pass_fds.empty()) throw Error::usage("a pool's sandboxes pass no descriptors (--pass-fd)");
    // One upper layer for every sandbox would carry one run's writes into the next: a pool's
    // sandboxes each get a fresh one (--overlay), or none.
    if (!policy.fs.overlay_upper.empty())
        throw Error::usage("a pool's sandboxes share nothing, so no --overlay-upper: each run's writes would be the next's "
                           "(--overlay gives each sandbox an upper layer of its own)");
    // 0, 1 and 2 open (on /dev/null where they are not): a descriptor received later must
    // never land on them by chance.
    for (int fd = 0; fd < 3; ++fd)
        if (::fcntl(fd, F_GETFD) < 0 && ::open("/dev/null", O_RDWR) != fd) throw Error(ErrorKind::Setup, "open", "/dev/null", errno);
    // The socket's directory is held from the start, and the socket made and removed in it
    // alone: its owner (another user than root, perhaps) may swap the directory's path for a
    // link meanwhile, and root would remove, or make, a file of that name elsewhere.
    const size_t slash = o.socket.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : o.socket.substr(0, slash);
    const std::string name = slash == std::string::npos ? o.socket : o.socket.substr(slash + 1);
    // As root, through links of root's only (mech/trusted_dir): another user's link on the way
    // would choose where root's socket is made.
    kernel::Fd dir = mech::open_trusted_dir(parent, mech::link_trust_for_this_user(), "the pool socket's directory");
    sockaddr_un a{};
    kernel::Fd listening = unix_socket("/proc/self/fd/" + std::to_string(dir.get()) + "/" + name, a, "pool socket");
    if (::fcntl(listening.get(), F_SETFL, O_NONBLOCK) < 0) throw Error(ErrorKind::Setup, "fcntl", o.socket, errno);
    // Only the server's user may ask: the socket is made 0600 before anyone can connect.
    mode_t old_umask = ::umask(0177);
    int rc = ::bind(listening.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    int err = errno;
    ::umask(old_umask);
    if (rc < 0) throw Error(ErrorKind::Usage, "bind pool socket", o.socket, err);
    struct stat made{};
    if (::fstatat(dir.get(), name.c_str(), &made, AT_SYMLINK_NOFOLLOW) < 0) throw Error(ErrorKind::Setup, "stat", o.socket, errno);
    // Removed only while it is still the socket this pool made.
    struct Unlink {
        int dir;
        const std::string& name;
        struct stat made;
        ~Unlink() {
            struct stat now{};
            if (::fstatat(dir, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == made.st_dev && now.st_ino == made.st_ino)
                ::unlinkat(dir, name.c_str(), 0);
        }
    } unlink_at_end{dir.get(), name, made};
    if (::listen(listening.get(), 128) < 0) throw Error(ErrorKind::Setup, "listen", o.socket, errno);

    sigset_t set, old;
    ::sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGCHLD}) ::sigaddset(&set, s);
    ::sigprocmask(SIG_BLOCK, &set, &old);
    kernel::Fd sigfd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd) throw Error(ErrorKind::Setup, "signalfd", "pool", errno);

    // The server is the one acceptor: each caller wakes it alone, and goes to the sandbox
    // that has waited longest.
    enum class State { Building, Ready, Taken };
    struct Worker {
        kernel::Fd link;
        State state = State::Building;
    };
    std::map<pid_t, Worker> workers;
    std::deque<pid_t> ready;
    std::deque<kernel::Fd> waiting;  // callers that came when no sandbox was ready
    using Clock = std::chrono::steady_clock;
    Clock::time_point last_taken{};
    // Refills wait until callers pause this long: built beside a burst of runs, they would
    // slow every run of it (the kernel's namespace and cgroup work is shared, whatever the
    // priority). Without a ready or building sandbox a caller would wait: then at once.
    constexpr auto kQuiet = std::chrono::milliseconds(100);
    bool stopping = false;
    std::string failed;
    // Once the first round stands, a sandbox that cannot be built (descriptors or processes
    // short for a while, a hostile program holding the user's share) is tried again later,
    // each time twice as late up to 5 s: the pool stays up for the others. Before, it is the
    // policy's fault or the host's, and the pool ends saying so.
    constexpr auto kRetryFirst = std::chrono::milliseconds(100), kRetryMost = std::chrono::milliseconds(5000);
    auto retry_after = kRetryFirst;
    Clock::time_point retry_at{};
    // Callers wait in the kernel's queue, not in the pool's memory, beyond this many; and while
    // descriptors are short, none is taken from it.
    constexpr size_t kMaxWaiting = 256;
    Clock::time_point accept_after{};
    auto untaken = [&] {
        size_t n = 0;
        for (const auto& [pid, w] : workers) n += w.state != State::Taken;
        return n;
    };
    auto building = [&] {
        size_t n = 0;
        for (const auto& [pid, w] : workers) n += w.state == State::Building;
        return n;
    };
    auto spawn = [&] {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) throw Error(ErrorKind::Setup, "socketpair", "pool worker", errno);
        kernel::Fd ours(sv[0]), theirs(sv[1]);
        pid_t pid = ::fork();
        if (pid < 0) throw Error(ErrorKind::Setup, "fork", "pool worker", errno);
        if (pid == 0) {
            ::sigprocmask(SIG_SETMASK, &old, nullptr);
            for (auto& [p, w] : workers) w.link.reset();
            waiting.clear();
            sigfd.reset();
            listening.reset();
            ours.reset();
            worker(policy, theirs.get());
        }
        workers[pid].link = std::move(ours);
    };
    auto dispatch = [&] {
        while (!waiting.empty() && !ready.empty()) {
            pid_t pid = ready.front();
            ready.pop_front();
            auto it = workers.find(pid);
            if (it == workers.end() || it->second.state != State::Ready) continue;
            int c = waiting.front().get();
            if (!mech::send_with_fds(it->second.link.get(), "C", 1, &c, 1)) continue;  // that worker went; the next one
            it->second.state = State::Taken;
            waiting.pop_front();
            last_taken = Clock::now();
        }
    };
    // Said once every sandbox of the first round is built: a caller that waits for this line
    // finds them ready.
    bool announced = false;
    auto setback = [&](const std::string& why) {
        if (!announced) {
            failed = why;
            return;
        }
        std::fprintf(stderr, "caisson pool: a sandbox could not be built, tried again in %lld ms: %s\n",
                     static_cast<long long>(retry_after.count()), why.c_str());
        retry_at = Clock::now() + retry_after;
        retry_after = std::min(retry_after * 2, kRetryMost);
    };
    while (!stopping || !workers.empty()) {
        if (!announced && ready.size() >= o.size) {
            std::fprintf(stderr, "caisson pool: listening on %s (%u sandboxes ready)\n", o.socket.c_str(), o.size);
            announced = true;
        }
        int timeout = -1;
        auto wait_until = [&](Clock::time_point t) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count() + 1;
            timeout = timeout < 0 ? static_cast<int>(std::max<long long>(ms, 0)) : std::min(timeout, static_cast<int>(std::max<long long>(ms, 0)));
        };
        if (!stopping && failed.empty() && Clock::now() < retry_at) {
            wait_until(retry_at);
        } else if (!stopping && failed.empty()) {
            size_t have = untaken();
            if (have < o.size) {
                auto quiet_for = Clock::now() - last_taken;
                if ((ready.empty() && building() == 0) || quiet_for >= kQuiet) {
                    try {
                        for (size_t i = have; i < o.size; ++i) spawn();
                    } catch (const Error& e) {
                        setback(e.what());
                    }
                } else {
                    timeout = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kQuiet - quiet_for).count()) + 1;
                }
            }
        }
        const bool accepting = listening && waiting.size() < kMaxWaiting && Clock::now() >= accept_after;
        if (listening && Clock::now() < accept_after) wait_until(accept_after);
        std::vector<pollfd> fds{{sigfd.get(), POLLIN, 0}, {accepting ? listening.get() : -1, POLLIN, 0}};
        std::vector<pid_t> order;
        for (auto& [pid, w] : workers)
            if (w.link) fds.push_back({w.link.get(), POLLIN, 0}), order.push_back(pid);
        if (::poll(fds.data(), fds.size(), timeout) < 0) {
            if (errno == EINTR) continue;
            throw Error(ErrorKind::Setup, "poll", "pool", errno);
        }
        if (fds[1].revents & POLLIN) {
            int c;
            // A few a round: callers that keep connecting do not keep the pool from dispatching.
            for (int round = 0; round < 16 && waiting.size() < kMaxWaiting; ++round) {
                if ((c = ::accept4(listening.get(), nullptr, nullptr, SOCK_CLOEXEC)) < 0) {
                    // Out of descriptors: the queued caller stays readable; polled at once, it
                    // would spin. Taken again a little later, when some may be free.
                    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                        accept_after = Clock::now() + kRetryFirst;
                    break;
                }
                // The kernel's word on the caller, before a sandbox is spent on it: a caller
                // refused costs the pool no rebuild (its worker checks again).
                std::string why = mech::peer_uid(c) != static_cast<long>(::geteuid()) ? "only the pool's own user may use it"
                                                                                       : mech::peer_stands_elsewhere(c);
                if (why.empty()) {
                    waiting.emplace_back(c);
                    continue;
                }
                if (why.rfind("only", 0) != 0) why = "a pool serves callers that stand where it does: " + why;
                (void)send_json(c, {{"error", why}});
                // A request left unread would make the close a reset, which the caller's
                // kernel reports before our answer.
                char sink[64];
                for (int packet = 0; packet < 4 && ::recv(c, sink, sizeof(sink), MSG_DONTWAIT) > 0; ++packet) {
                }
                ::close(c);
            }
        }
        for (size_t i = 2; i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            Worker& w = workers[order[i - 2]];
            char msg[512];
            ssize_t n = ::read(w.link.get(), msg, sizeof(msg));
            if (n > 0 && msg[0] == 'R' && w.state == State::Building) {
                w.state = State::Ready;
                ready.push_back(order[i - 2]);
                retry_after = kRetryFirst;
            } else if (n > 0 && msg[0] == 'E') {
                setback(std::string(msg + 1, static_cast<size_t>(n - 1)));
                w.link.reset();  // that worker ends; its place is built again
            } else if (n <= 0) {
                // A worker gone while building (killed, out of memory) is a setback too: not
                // rebuilt at once, over and over.
                if (w.state == State::Building) setback("a worker ended while building its sandbox");
                w.link.reset();
            }
        }
        dispatch();
        if (fds[0].revents) {
            signalfd_siginfo si;
            while (::read(sigfd.get(), &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGCHLD) continue;
                stopping = true;
            }
            int status;
            pid_t pid;
            while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) workers.erase(pid);
        }
        if (!failed.empty()) stopping = true;
        if (stopping) {
            // New callers are refused by the kernel from now on, and those still waiting are
            // closed; sandboxes nobody took go unused (their workers see the link close);
            // runs in progress finish.
            listening.reset();
            waiting.clear();
            for (auto& [pid, w] : workers)
                if (w.state != State::Taken) w.link.reset();
        }
    }
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    if (!failed.empty()) throw Error::usage("caisson pool: a sandbox could not be built: " + failed);
    return 0;
}

Outcome run_in_pool(const std::string& socket, const Policy& policy, std::string* report_json) {
    if (!policy.learn_path.empty() || !policy.audit_path.empty() || policy.monitor)
        throw Error::usage("--pool: not with --learn, --audit or --monitor (a pool's sandboxes keep no file or stream of the run's)");
    sockaddr_un a{};
    kernel::Fd conn = unix_socket(socket, a, "connect to pool");
    if (::connect(conn.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0)
        throw Error(ErrorKind::Usage, "--pool: connect", socket, errno);
    // Our streams and environment go only to a pool of our own user's (or root's), never to
    // whatever listens at a path someone else could have taken.
    const long pool_uid = mech::peer_uid(conn.get());
    if (pool_uid != static_cast<long>(::geteuid()) && pool_uid != 0) throw Error::usage("--pool " + socket + ": the socket is not the pool of this user or root's");
    // Nor a sandbox of this user's listening there: its ids map back to ours, but it is in a
    // user namespace of its own, and it would take our streams and answer for a program it
    // never ran.
    if (std::string why = mech::peer_in_another_user_namespace(conn.get()); !why.empty())
        throw Error::usage("--pool " + socket + ": the socket is not a pool of this user's or root's: " + why);
    // --die-with-parent: the parent's end closes the connection, and the pool's worker ends
    // the sandbox (mech/parent_watch.hpp).
    mech::ParentWatch parent(policy.process.die_with_parent);
    if (policy.process.argv.empty() || policy.process.argv[0].empty()) throw Error::usage("no command to run");
    nlohmann::json req = {{"policy", comparable(policy)}, {"argv", policy.process.argv}, {"env", run::make_environment(policy)}};
    // The program's streams: the policy's (process.stdio), /dev/null for -1.
    kernel::Fd null;
    int stdio[3];
    for (int i = 0; i < 3; ++i) {
        stdio[i] = policy.process.stdio[static_cast<size_t>(i)];
        if (std::string why = stdio[i] < 0 ? "" : mech::way_out_through(stdio[i]); !why.empty())
            throw Error::usage("process.stdio (the program's standard streams): " + why);
        if (stdio[i] >= 0) continue;
        if (!null) null.reset(::open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY));
        if (!null) throw Error(ErrorKind::Setup, "open", "/dev/null (the program's streams)", errno);
        stdio[i] = null.get();
    }
    errno = 0;
    if (!send_json(conn.get(), req, stdio, 3)) {
        const int err = errno;
        // A pool that refused us at once has closed; its reason waits to be read.
        std::string said;
        if ((err == EPIPE || err == ECONNRESET) && recv_packet(conn.get(), said) > 0) {
            nlohmann::json j = nlohmann::json::parse(said, nullptr, false);
            if (j.is_object() && j.contains("error") && j["error"].is_string())
                throw Error::usage("--pool " + socket + ": " + j["error"].get<std::string>());
        }
        errno = err;
        if (errno) throw Error(ErrorKind::Setup, "--pool: send the request", socket, errno);
        throw Error::usage("--pool: the command line and environment must be UTF-8 and under " + std::to_string(kMaxPacket / 1024) + " KiB");
    }

    // The caller's signals go to the program only when it asked (process.forward_signals):
    // a signalfd would take them from a library caller's own handlers (caisson/policy.hpp).
    sigset_t set, old;
    ::sigemptyset(&set);
    for (int s : kForwarded) ::sigaddset(&set, s);
    if (::pthread_sigmask(policy.process.forward_signals ? SIG_BLOCK : SIG_SETMASK, policy.process.forward_signals ? &set : nullptr,
                          &old) != 0)
        throw Error(ErrorKind::Setup, "pthread_sigmask", "pool client", EINVAL);
    struct Restore {
        sigset_t mask;
        ~Restore() { ::pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
    } restore{old};
    kernel::Fd sigfd;
    if (policy.process.forward_signals) {
        sigfd.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!sigfd) throw Error(ErrorKind::Setup, "signalfd", "pool client", errno);
    }

    std::string buf;
    bool accepted = false;
    for (;;) {
        pollfd fds[3] = {{conn.get(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}, {parent.fd(), POLLIN, 0}};
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            throw Error(ErrorKind::Setup, "poll", "pool client", errno);
        }
        if (fds[2].revents) {
            conn.reset();
            throw Error(ErrorKind::Setup, "--die-with-parent", "the parent ended; the pool's sandbox is ended with it", ESRCH);
        }
        if (fds[1].revents) {
            signalfd_siginfo si;
            while (::read(sigfd.get(), &si, sizeof(si)) == sizeof(si)) {
                int sig = static_cast<int>(si.ssi_signo);
                (void)::send(conn.get(), &sig, sizeof(sig), MSG_NOSIGNAL);
            }
        }
        if (!fds[0].revents) continue;
        ssize_t n = recv_packet(conn.get(), buf);
        // A pool that refused us and closed while our request was in flight: the kernel says
        // "reset" first, and the reason is still queued behind it.
        if (n < 0 && errno == ECONNRESET && !accepted) n = recv_packet(conn.get(), buf);
        if (n <= 0) throw Error(ErrorKind::Setup, "--pool", accepted ? "the pool's sandbox ended without an answer" : "the pool closed the connection", n < 0 ? errno : EPIPE);
        nlohmann::json j = nlohmann::json::parse(buf.substr(0, static_cast<size_t>(n)), nullptr, false);
        if (j.is_discarded()) throw Error(ErrorKind::Setup, "--pool", "an answer that is not JSON", EPROTO);
        if (j.contains("error")) throw Error::usage("--pool " + socket + ": " + j["error"].get<std::string>());
        if (j.contains("accepted")) {
            accepted = true;
            continue;
        }
        Outcome out;
        int status = j.value("status", 1);
        // The status alone comes first: enough for a caller that wants no report.
        if (!j.contains("report") && !j.contains("report_too_large") && report_json) continue;
        if (j.contains("report")) {
            std::string text = j["report"].get<std::string>();
            if (report_json) *report_json = text;
            nlohmann::json r = nlohmann::json::parse(text, nullptr, false);
            if (r.is_object()) {
                // Absent or null where they do not apply (a signal when it exited).
                auto number = [&](const char* k) { return r.contains(k) && r[k].is_number() ? r[k].get<double>() : 0.0; };
                auto flag = [&](const char* k) { return r.contains(k) && r[k].is_boolean() && r[k].get<bool>(); };
                out.exited = flag("exited");
                out.exit_code = static_cast<int>(number("exit_code"));
                out.term_signal = static_cast<int>(number("signal"));
                out.wall_s = number("wall_s");
                out.time_limit_fired = flag("time_limit_fired");
                out.oom = flag("oom");
                return out;
            }
        }
        out.exited = status < 128;
        out.exit_code = status < 128 ? status : 0;
        out.term_signal = status >= 128 ? status - 128 : 0;
        return out;
    }
}

}  // namespace caisson
