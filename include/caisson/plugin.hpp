// Sandboxed plug-ins: a shared library loaded by a worker process in a sandbox (new
// namespaces, no network, read-only root, no capabilities, seccomp, memory and CPU limits),
// whose functions the host calls with typed arguments over a socket. No code generator: the
// plug-in exports each function with CAISSON_PLUGIN_FUNCTION(name), the host calls it with
// plugin.call<R>("name", args...); both sides derive the signature from the C++ types and a
// mismatch is an error. A crash, a seccomp kill, a timeout, an OOM or garbage on the socket
// is a PluginError in the host, which names what happened; the host carries on.
//
//   // plugin.cpp, built as a shared library (it links nothing: the worker provides the rest)
//   #include <caisson/plugin.hpp>
//   int64_t add(int64_t a, int64_t b) { return a + b; }
//   CAISSON_PLUGIN_FUNCTION(add)
//
//   // host.cpp
//   caisson::Plugin p({.library = "/usr/lib/myplugin.so"});
//   int64_t three = p.call<int64_t>("add", int64_t{1}, int64_t{2});
#pragma once

#include <caisson/error.hpp>
#include <caisson/plugin_wire.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace caisson {

enum class PluginFailure {
    LoadFailed,      // the library did not load, or the worker did not start
    CallFailed,      // no such function, a signature mismatch, or the function threw
    Crashed,         // the worker died of a signal
    SeccompKilled,   // the worker made a forbidden system call
    OutOfMemory,     // the memory limit killed it
    Timeout,         // a call took longer than call_timeout_s (the worker was killed)
    BadReply,        // the worker sent something that is not a reply: treated as hostile
    Exited,          // the worker exited on its own
};
const char* plugin_failure_name(PluginFailure);

class PluginError : public std::runtime_error {
public:
    PluginError(PluginFailure failure, const std::string& message)
        : std::runtime_error(message), failure_(failure) {}
    PluginFailure failure() const { return failure_; }

private:
    PluginFailure failure_;
};

struct PluginOptions {
    std::string library;               // the shared library, a host path
    std::string worker;  // default: $CAISSON_PLUGIN_WORKER, else beside the caller, else where it was installed
    uint64_t memory_bytes = 256u << 20;
    uint64_t cpu_seconds = 10;         // CPU time over the worker's life (RLIMIT_CPU)
    double call_timeout_s = 5;         // wall time per call
    bool fresh_per_call = false;       // a new worker for every call (untrusted input)
    // How long the host (for a reply) and the worker (for the next call) spin before they
    // sleep: a warm call then costs microseconds instead of two wake-ups. Each side burns up
    // to this much CPU per call; 0 never spins (sparse calls, or CPU time that matters more).
    std::chrono::microseconds spin{100};
    // With fresh_per_call: the next worker starts in the background as soon as a call ends
    // (it has seen nothing), and the ended one is torn down in the background too. A call
    // then waits for a start only when calls come faster than workers start.
    bool standby = true;
    // The worker's standard error (its own diagnostics and the plug-in's): a descriptor of
    // the host's, open for as long as the Plugin lives (a log file). Default -1: /dev/null.
    // Its standard input and output are always /dev/null: a host whose own streams are a
    // client's connection (inetd, a CGI) would otherwise hand the plug-in its client.
    int stderr_fd = -1;
};

// One plug-in and its worker. Not thread-safe: one call at a time.
class Plugin {
public:
    explicit Plugin(PluginOptions options);  // starts the worker; throws PluginError(LoadFailed)
    ~Plugin();
    Plugin(const Plugin&) = delete;
    Plugin& operator=(const Plugin&) = delete;

    template <class R, class... A>
    R call(const std::string& function, const A&... args) {
        wire::Writer& w = outbox_;
        w.clear();
        w.put(function);
        static const std::string signature = wire::signature<R, A...>();  // built once per signature
        w.put(signature);
        (w.put(args), ...);
        wire::Reader r = roundtrip(w, function);
        struct Recycle {
            Plugin& p;
            wire::Reader& r;
            ~Recycle() { p.inbox_ = r.take_bytes(); }
        } recycle{*this, r};
        try {
            if constexpr (std::is_void_v<R>) {
                r.finish("reply");
            } else {
                R result = r.template get<R>("result");
                r.finish("reply");
                return result;
            }
        } catch (const Error& e) {
            fail(PluginFailure::BadReply, std::string("plug-in ") + function + ": " + e.what());
        }
    }

    // Stops the worker and starts a new one (after a failure, or to drop its state).
    void restart();
    bool running() const;
    pid_t worker_pid() const;  // in the host's pid namespace; 0 when none runs

    struct Worker;

private:
    wire::Reader roundtrip(const wire::Writer& call, const std::string& function);
    [[noreturn]] void fail(PluginFailure failure, const std::string& message);
    struct Prepared;
    void retire(std::unique_ptr<Worker> w);
    void reap();
    PluginOptions options_;
    std::unique_ptr<Prepared> prepared_;  // the workers' sandbox policy, built once
    std::unique_ptr<Worker> worker_, standby_;
    std::vector<std::unique_ptr<Worker>> retiring_;  // told to end, not yet joined
    // The last call's and reply's memory, reused: copies of large buffers then do not fault
    // fresh pages in every time.
    wire::Writer outbox_;
    std::string inbox_;
};

// ---- the plug-in side ----------------------------------------------------------------
namespace plugin_detail {

template <class T>
using Decayed = std::remove_cvref_t<T>;

template <class R, class... A, size_t... I>
bool invoke(R (*fn)(A...), wire::Reader& in, wire::Writer& out, const std::string& sig, std::string& error,
            std::index_sequence<I...>) {
    std::string mine = wire::signature<Decayed<R>, Decayed<A>...>();
    if (sig != mine) {
        error = "signature mismatch: the host calls " + sig + ", the plug-in has " + mine;
        return false;
    }
    try {
        // Braced initialisation reads the arguments in order.
        std::tuple<Decayed<A>...> args{in.get<Decayed<A>>(("argument " + std::to_string(I + 1)).c_str())...};
        in.finish("call");
        out.put(true);
        if constexpr (std::is_void_v<R>) std::apply(fn, std::move(args));
        else out.put(std::apply(fn, std::move(args)));
        return true;
    } catch (const std::exception& e) {
        error = e.what();
    } catch (...) {
        error = "the function threw something that is not a std::exception";
    }
    return false;
}

}  // namespace plugin_detail
}  // namespace caisson

// Exports `fn` (a function of supported types) under its own name.
#define CAISSON_PLUGIN_FUNCTION(fn)                                                                              \
    extern "C" __attribute__((visibility("default"))) bool caisson_plugin_fn_##fn(                               \
        caisson::wire::Reader& in, caisson::wire::Writer& out, const std::string& sig, std::string& error) {    \
        return caisson::plugin_detail::invoke(&fn, in, out, sig, error,                                          \
                                               std::make_index_sequence<caisson::plugin_detail::arity(&fn)>{}); \
    }

namespace caisson::plugin_detail {
template <class R, class... A>
constexpr size_t arity(R (*)(A...)) {
    return sizeof...(A);
}
}  // namespace caisson::plugin_detail
