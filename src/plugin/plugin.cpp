#include <caisson/plugin.hpp>
#include <caisson/sandbox.hpp>

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/companion.hpp"
#include "plugin/shared_channel.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <climits>
#include <cstring>
#include <sys/time.h>
#include <system_error>
#include <thread>

namespace caisson {

const char* plugin_failure_name(PluginFailure f) {
    switch (f) {
    case PluginFailure::LoadFailed: return "load failed";
    case PluginFailure::CallFailed: return "call failed";
    case PluginFailure::Crashed: return "crashed";
    case PluginFailure::SeccompKilled: return "killed by seccomp";
    case PluginFailure::OutOfMemory: return "out of memory";
    case PluginFailure::Timeout: return "timed out";
    case PluginFailure::BadReply: return "bad reply";
    case PluginFailure::Exited: return "exited";
    }
    return "?";
}

namespace {

constexpr int kSoPassPidfd = 76;  // SO_PASSPIDFD (Linux 6.5), newer than this libc's headers

std::string default_worker() {
    return mech::companion_path("caisson-plugin-worker", "CAISSON_PLUGIN_WORKER", CAISSON_INSTALLED_WORKER);
}

std::string absolute(const std::string& path, PluginFailure f) {
    char buf[PATH_MAX];
    if (!::realpath(path.c_str(), buf)) throw PluginError(f, "plug-in " + path + ": " + std::strerror(errno));
    return buf;
}

}  // namespace

// The worker's pidfd from its "ready": the one the kernel attached (SO_PASSPIDFD), which
// names that process or none; on a kernel without it, one opened by the pid it attached,
// kept only while the worker's sandbox still runs (the pid of a worker that died since could
// be another process's by now, and the kill meant for the worker would reach it).
namespace {
int adopt_worker_pidfd(int attached, pid_t sender, const std::atomic<bool>& gone) {
    if (attached >= 0) return attached;
    if (sender <= 0 || gone) return -1;
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, sender, 0));
    if (fd >= 0 && gone) {
        ::close(fd);
        return -1;
    }
    return fd;
}
}  // namespace

// One worker: the sandbox runs in a thread of its own (Sandbox::run returns when the worker
// ends); the host calls it through the shared channel (the socket for descriptors, large
// messages and the start), and learns of its end through `done` and `ended`.
struct Plugin::Worker {
    plugin::SharedChannel chan;
    kernel::Fd sock, done, pidfd;
    pid_t pid = 0;
    uint32_t seq = 0;  // the channel's last reply; the next call is seq + 1
    std::atomic<bool> gone{false};  // set by the runner once the sandbox has ended
    std::thread runner;
    // What the worker writes to its standard error, copied to the host's stderr_fd: a pipe
    // between them, so that the worker never holds the host's open file (it could truncate,
    // seek or make non-blocking a log the host shares with it).
    std::thread stderr_relay;
    kernel::Fd relay_stop;  // an eventfd: the sandbox has ended
    Outcome outcome;
    std::string setup_error;

    ~Worker() { stop(); }

    void kill() {
        if (pidfd) kernel::pidfd_send_signal(pidfd.get(), SIGKILL);
    }
    // Waits for the sandbox to end, at most `ms`; then kills the worker and waits for good.
    void wait(int ms) {
        if (runner.joinable()) {
            pollfd p{done.get(), POLLIN, 0};
            if (::poll(&p, 1, ms) <= 0) kill();
            runner.join();
        }
        // The sandbox has ended: the relay copies what is left in the pipe, without waiting
        // for a writer that might outlive it, and ends.
        if (stderr_relay.joinable()) {
            uint64_t one = 1;
            (void)!::write(relay_stop.get(), &one, sizeof(one));
            stderr_relay.join();
        }
    }
    // Tells the worker to end, without waiting for it.
    void close() {
        if (!sock) return;
        // A standby worker never met: its pid, if it said "ready" already, so that it can
        // still be killed should it hang in loading its library.
        if (!pidfd) {
            pollfd p{sock.get(), POLLIN, 0};
            std::string bytes;
            std::vector<int> fds;
            int sender = 0, attached = -1;
            try {
                if (::poll(&p, 1, 0) == 1 &&
                    wire::receive(sock.get(), bytes, fds, "ready", 64, &sender,
                                  std::chrono::steady_clock::now() + std::chrono::milliseconds(100), &attached))
                    pidfd.reset(adopt_worker_pidfd(attached, sender, gone));
            } catch (const Error&) {
            }
        }
        // The worker hears "close" on the channel or EOF on the socket, whichever it waits on.
        if (chan && runner.joinable() && !gone) chan.publish(seq + 1, nullptr, plugin::SharedChannel::kClose);
        sock.reset();
    }
    bool ended() const {
        pollfd p{done.get(), POLLIN, 0};
        return ::poll(&p, 1, 0) == 1;
    }
    // A worker's state ends with it and nothing of it is kept: it is killed, not asked. One
    // that ignored "close" held its sandbox, and the host's descriptors for it, for good.
    void stop() {
        close();
        kill();
        wait(2000);
    }
    // What ended the worker, as the host's error.
    PluginError ended(const std::string& library) const {
        std::string who = "plug-in " + library;
        if (!setup_error.empty()) return PluginError(PluginFailure::LoadFailed, who + ": " + setup_error);
        if (outcome.seccomp_violation)
            return PluginError(PluginFailure::SeccompKilled,
                               who + ": killed by seccomp for " + outcome.seccomp_violation->syscall);
        if (outcome.oom) return PluginError(PluginFailure::OutOfMemory, who + ": out of memory (the limit killed it)");
        if (!outcome.exited)
            return PluginError(PluginFailure::Crashed,
                               who + ": crashed (" + std::string(::sigabbrev_np(outcome.term_signal) ?: "?") + ")");
        return PluginError(PluginFailure::Exited, who + ": worker exited with " + std::to_string(outcome.exit_code));
    }
};

namespace {

[[noreturn]] void fail_start(Plugin::Worker& w, const std::string& message) {
    w.sock.reset();
    w.wait(2000);
    throw PluginError(PluginFailure::LoadFailed, message);
}

// Copies what the worker writes to its standard error (the pipe's read end `in`) to the
// host's descriptor `out`, until the sandbox has ended (Worker::wait says so) and the pipe is
// drained. Never blocks for long on either side: a stalled reader of the host's descriptor
// loses what it would not take, and SIGPIPE is this thread's to ignore, not the host's to die
// of. Without a thread (none could be started), the worker's writes fail once the pipe is gone.
void start_stderr_relay(Plugin::Worker& w, kernel::Fd in, int out) {
    w.relay_stop.reset(::eventfd(0, EFD_CLOEXEC));
    if (!w.relay_stop) return;
    const int stop = w.relay_stop.get();
    try {
        w.stderr_relay = std::thread([in = std::move(in), out, stop]() {
            sigset_t pipe_signal;
            ::sigemptyset(&pipe_signal);
            ::sigaddset(&pipe_signal, SIGPIPE);
            ::pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
            bool ended = false;
            char buf[4096];
            for (;;) {
                pollfd p[2] = {{in.get(), POLLIN, 0}, {stop, POLLIN, 0}};
                // Once the sandbox has ended, only what is in the pipe already.
                int n = ::poll(p, ended ? 1 : 2, ended ? 0 : -1);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) return;
                if (!ended && (p[1].revents & POLLIN)) ended = true;
                if (!(p[0].revents & (POLLIN | POLLHUP))) continue;
                ssize_t got = ::read(in.get(), buf, sizeof(buf));
                if (got < 0 && errno == EINTR) continue;
                if (got <= 0) return;
                for (ssize_t off = 0; off < got;) {
                    pollfd q{out, POLLOUT, 0};
                    if (::poll(&q, 1, 1000) != 1) break;
                    ssize_t m = ::write(out, buf + off, static_cast<size_t>(got - off));
                    if (m < 0 && errno == EINTR) continue;
                    if (m <= 0) break;
                    off += m;
                }
            }
        });
    } catch (const std::system_error&) {
        w.relay_stop.reset();
    }
}

// The worker's sandbox, less its descriptors: built once per Plugin (the default profile
// is parsed here), copied for each worker.
Policy prepare(const PluginOptions& o) {
    Policy p = default_policy();
    std::string worker = absolute(o.worker.empty() ? default_worker() : o.worker, PluginFailure::LoadFailed);
    std::string library = absolute(o.library, PluginFailure::LoadFailed);
    // Both visible at their host paths, read-only, wherever they live (a /tmp included).
    p.fs.mounts.push_back({MountKind::RoBind, worker, worker});
    p.fs.mounts.push_back({MountKind::RoBind, library, library});
    p.process.argv = {worker, library};
    // No --die-with-parent: that is about the host's own parent. The worker goes with the
    // host anyway: its sandbox's init dies with the thread that supervises it.
    p.process.rlimits.push_back({RLIMIT_CPU, o.cpu_seconds, o.cpu_seconds});
    // No core file: a crashing worker's memory holds its callers' inputs, and a piped
    // core_pattern would store it on the host.
    p.process.rlimits.push_back({RLIMIT_CORE, 0, 0});
    if (o.memory_bytes) p.resources.memory = o.memory_bytes;
    // Tight: a call outside the default allowlist kills the worker, and the host hears of it.
    p.seccomp.default_action = {seccomp::ActionKind::KillProcess, 0};
    return p;
}

std::unique_ptr<Plugin::Worker> start_worker(const Policy& base, const PluginOptions& o) {
    auto w = std::make_unique<Plugin::Worker>();
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        throw PluginError(PluginFailure::LoadFailed, std::string("plug-in: socketpair: ") + std::strerror(errno));
    w->sock.reset(sv[0]);
    kernel::Fd theirs(sv[1]);
    // The worker's first message brings its pid (SCM_CREDENTIALS): on before it can send.
    int on = 1;
    if (::setsockopt(w->sock.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0)
        throw PluginError(PluginFailure::LoadFailed, std::string("plug-in: SO_PASSCRED: ") + std::strerror(errno));
    // And a pidfd of it, where the kernel gives one (before 6.5 it does not: the pid serves).
    (void)::setsockopt(w->sock.get(), SOL_SOCKET, kSoPassPidfd, &on, sizeof(on));
    w->done.reset(::eventfd(0, EFD_CLOEXEC));
    if (!w->done) throw PluginError(PluginFailure::LoadFailed, std::string("plug-in: eventfd: ") + std::strerror(errno));
    try {
        w->chan = plugin::SharedChannel::create();
    } catch (const Error& e) {
        throw PluginError(PluginFailure::LoadFailed, e.what());
    }
    // A worker that stops reading or writing in the middle of a message must not hold the
    // host: socket reads and writes give up after the call's timeout.
    timeval tv{static_cast<time_t>(o.call_timeout_s), static_cast<suseconds_t>((o.call_timeout_s - static_cast<time_t>(o.call_timeout_s)) * 1e6)};
    if (::setsockopt(w->sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        ::setsockopt(w->sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        throw PluginError(PluginFailure::LoadFailed, std::string("plug-in: socket timeouts: ") + std::strerror(errno));

    Policy p = base;
    const std::string library = p.process.argv.back();
    p.process.argv = {p.process.argv.front(), "--fd",      std::to_string(theirs.get()), "--shm", std::to_string(w->chan.fd()),
                      "--spin-us",           std::to_string(o.spin.count()), library};
    p.process.pass_fds = {theirs.get(), w->chan.fd()};
    kernel::Fd log_read, log_write;
    if (o.stderr_fd >= 0) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0)
            throw PluginError(PluginFailure::LoadFailed, std::string("plug-in: pipe for stderr_fd: ") + std::strerror(errno));
        log_read.reset(fds[0]);
        log_write.reset(fds[1]);
    }
    p.process.stdio = {-1, -1, log_write ? log_write.get() : -1};

    Plugin::Worker* raw = w.get();
    // The descriptors go to the thread: the sandbox's child inherits them there, and they
    // are closed there once the sandbox has ended or failed; here, should the thread not start.
    const int their_fd = theirs.get(), log_fd = log_write ? log_write.get() : -1;
    try {
        raw->runner = std::thread([raw, p = std::move(p), their_fd, log_fd]() mutable {
            try {
                raw->outcome = Sandbox(std::move(p)).run();
            } catch (const std::exception& e) {
                raw->setup_error = e.what();
            }
            ::close(their_fd);
            if (log_fd >= 0) ::close(log_fd);
            // A host asleep on the channel looks again, and finds the worker gone.
            raw->gone = true;
            raw->chan.interrupt();
            uint64_t one = 1;
            (void)!::write(raw->done.get(), &one, sizeof(one));
        });
    } catch (const std::system_error& e) {
        throw PluginError(PluginFailure::LoadFailed, std::string("plug-in: start the worker's thread: ") + e.what());
    }
    (void)theirs.release();
    (void)log_write.release();
    if (log_read) start_stderr_relay(*raw, std::move(log_read), o.stderr_fd);
    return w;
}

}  // namespace

struct Plugin::Prepared {
    Policy policy;
};

Plugin::Plugin(PluginOptions options)
    : options_(std::move(options)), prepared_(std::make_unique<Prepared>(Prepared{prepare(options_)})) {
    if (!options_.fresh_per_call) restart();
    else if (options_.standby) standby_ = start_worker(prepared_->policy, options_);
}

Plugin::~Plugin() {
    // All of them killed first, then waited for: their teardowns overlap.
    for (auto* w : {worker_.get(), standby_.get()})
        if (w) {
            w->close();
            w->kill();
        }
    for (auto& w : retiring_) {
        w->close();
        w->kill();
    }
}

void Plugin::retire(std::unique_ptr<Worker> w) {
    if (!w) return;
    w->close();
    w->kill();
    retiring_.push_back(std::move(w));
}

void Plugin::reap() {
    std::erase_if(retiring_, [](const std::unique_ptr<Worker>& w) { return w->ended(); });
}

bool Plugin::running() const { return worker_ && worker_->sock; }
pid_t Plugin::worker_pid() const { return running() ? worker_->pid : 0; }

void Plugin::fail(PluginFailure failure, const std::string& message) {
    if (worker_) {
        worker_->kill();
        worker_->wait(2000);
        worker_.reset();
    }
    throw PluginError(failure, message);
}

namespace {

// Each step of a worker's start (its "ready", its library's load) has this long, the message
// that ends it included.
constexpr int kStartStepMs = 10000;
constexpr std::chrono::milliseconds kStartStep{kStartStepMs};

// Waits until the worker wrote or ended; false on the timeout.
bool readable(Plugin::Worker& w, int ms) {
    pollfd p[2] = {{w.sock.get(), POLLIN, 0}, {w.done.get(), POLLIN, 0}};
    int rc;
    do rc = ::poll(p, 2, ms);
    while (rc < 0 && errno == EINTR);
    return rc > 0;
}

}  // namespace

void Plugin::restart() {
    worker_.reset();
    reap();
    std::unique_ptr<Worker> w = standby_ ? std::move(standby_) : start_worker(prepared_->policy, options_);
    const std::string who = "plug-in " + options_.library;
    // First, before it loads anything, the worker says it is there; the kernel adds its pid
    // (SCM_CREDENTIALS), which is how a worker that hangs gets killed, even in its loading.
    std::string bytes;
    std::vector<int> fds;
    int sender = 0, attached = -1;
    if (!readable(*w, kStartStepMs)) fail_start(*w, who + ": the worker did not start in 10 s");
    try {
        if (!wire::receive(w->sock.get(), bytes, fds, "ready", 64, &sender, std::chrono::steady_clock::now() + kStartStep,
                           &attached)) {
            w->wait(2000);
            throw w->ended(options_.library);
        }
    } catch (const Error& e) {
        fail_start(*w, who + ": " + e.what());
    }
    int off = 0;
    ::setsockopt(w->sock.get(), SOL_SOCKET, SO_PASSCRED, &off, sizeof(off));
    ::setsockopt(w->sock.get(), SOL_SOCKET, kSoPassPidfd, &off, sizeof(off));
    kernel::Fd attached_fd(attached);
    if (sender <= 0 || sender == ::getpid()) fail_start(*w, who + ": the worker's pid did not come with its first message");
    w->pid = sender;
    w->pidfd.reset(adopt_worker_pidfd(attached_fd.release(), sender, w->gone));
    if (!w->pidfd) fail_start(*w, who + ": the worker ended before it could be known (pidfd: " + std::strerror(errno) + ")");
    // Then whether the library loaded (its constructors ran by then).
    if (!readable(*w, kStartStepMs)) {
        w->kill();
        w->wait(2000);
        throw PluginError(PluginFailure::LoadFailed, who + ": the library did not load in 10 s");
    }
    try {
        if (!wire::receive(w->sock.get(), bytes, fds, "hello", 4096, nullptr, std::chrono::steady_clock::now() + kStartStep)) {
            w->wait(2000);
            PluginError e = w->ended(options_.library);
            throw PluginError(PluginFailure::LoadFailed, std::string(e.what()) + " while loading");
        }
        wire::Reader hello(std::move(bytes), std::move(fds));
        bool loaded = hello.get<bool>("hello");
        std::string why = hello.get<std::string>("hello");
        if (!loaded) fail_start(*w, who + ": " + why);
    } catch (const Error& e) {
        w->kill();
        w->wait(2000);
        throw PluginError(PluginFailure::BadReply, who + ": " + e.what());
    }
    worker_ = std::move(w);
}

wire::Reader Plugin::roundtrip(const wire::Writer& call, const std::string& function) {
    struct FreshWorker {
        Plugin& p;
        ~FreshWorker() {
            if (!p.options_.fresh_per_call) return;
            p.retire(std::move(p.worker_));
            if (!p.options_.standby || p.standby_) return;
            try {
                p.standby_ = start_worker(p.prepared_->policy, p.options_);
            } catch (const PluginError&) {
                // The next call starts one itself, and reports why it cannot.
            }
        }
    } fresh{*this};
    if (options_.fresh_per_call || !running()) restart();
    Worker& w = *worker_;
    // Named only on an error: the warm path allocates nothing for it.
    auto who = [&] { return "plug-in " + options_.library + ": " + function; };
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(options_.call_timeout_s));
    const uint32_t call_seq = w.seq + 1, reply_seq = w.seq + 2;
    auto worker_gone = [&]() -> PluginError {
        w.wait(2000);
        PluginError e = w.ended(options_.library);
        worker_.reset();
        return e;
    };
    if (w.gone) throw worker_gone();
    const std::string& body = call.bytes();
    const bool on_socket = !call.fds().empty() || body.size() > plugin::SharedChannel::kAreaBytes;
    // "On the socket" is rung first: the worker then reads while a large message is sent.
    w.chan.publish(call_seq, on_socket ? nullptr : body.data(),
                   on_socket ? plugin::SharedChannel::kOnSocket : static_cast<uint32_t>(body.size()));
    if (on_socket) {
        try {
            wire::send(w.sock.get(), call, "call", deadline);
        } catch (const Error& e) {
            if (e.err() == EAGAIN) fail(PluginFailure::Timeout, who() + ": the worker stopped reading the call");
            throw worker_gone();
        }
    }
    std::optional<uint32_t> rang = w.chan.await(call_seq, options_.spin, deadline);
    if (w.gone) throw worker_gone();
    if (!rang)
        fail(PluginFailure::Timeout,
             who() + " took longer than " + std::to_string(static_cast<int>(options_.call_timeout_s * 1000)) + " ms");
    if (*rang != reply_seq) fail(PluginFailure::BadReply, who() + ": the worker rang out of turn");
    w.seq = reply_seq;
    std::string bytes = std::move(inbox_);
    std::vector<int> fds;
    const uint32_t length = w.chan.length();  // read once: the worker can change it at any time
    if (length == plugin::SharedChannel::kOnSocket) {
        bool got = false;
        try {
            got = wire::receive(w.sock.get(), bytes, fds, "reply", wire::kMaxMessage, nullptr, deadline);
        } catch (const Error& e) {
            if (e.err() == EAGAIN) fail(PluginFailure::Timeout, who() + ": the worker did not send its whole reply in time");
            fail(PluginFailure::BadReply, who() + ": " + e.what());
        }
        if (!got) throw worker_gone();
    } else if (length > plugin::SharedChannel::kAreaBytes) {
        fail(PluginFailure::BadReply, who() + ": the reply's length " + std::to_string(length) + " is over the channel's size");
    } else {
        w.chan.copy_out(bytes, length);
    }
    wire::Reader r(std::move(bytes), std::move(fds));
    bool ok = false;
    std::string error;
    try {
        ok = r.get<bool>("reply");
        if (!ok) error = r.get<std::string>("error");
    } catch (const Error& e) {
        fail(PluginFailure::BadReply, who() + ": " + e.what());
    }
    if (!ok) throw PluginError(PluginFailure::CallFailed, who() + ": " + error);
    return r;
}

}  // namespace caisson
