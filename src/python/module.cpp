// The Python face: `import caisson; caisson.run([...], **settings)` runs a program in a new
// sandbox and returns the report as a dict. The keyword arguments are the settings of the
// one schema (`--allow-host` is `allow_host=`), so the Python face, the CLI and profiles
// take the same names and values. Reaches the library only through include/caisson.
#include <caisson/error.hpp>
#include <caisson/sandbox.hpp>
#include <caisson/settings.hpp>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace py = pybind11;

namespace {

// A Python value as the schema's text: True/False, numbers and strings as written.
std::string text_of(const py::handle& v) {
    if (py::isinstance<py::bool_>(v)) return v.cast<bool>() ? "true" : "false";
    if (py::isinstance<py::str>(v)) return v.cast<std::string>();
    if (py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v)) return py::str(v).cast<std::string>();
    if (py::isinstance<py::bytes>(v)) return v.cast<std::string>();
    throw caisson::Error::usage("a setting's value must be a string, a number or a bool, not " +
                                py::str(py::type::handle_of(v)).cast<std::string>());
}

bool is_sequence(const py::handle& v) { return py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v); }

// One keyword argument onto the policy: a switch takes a bool; a one-value setting a value,
// or a list of them when repeatable; a two-value setting a pair, or a list of pairs.
void apply_setting(caisson::Policy& policy, const std::string& key, const py::handle& value) {
    std::string name = key;
    for (char& c : name)
        if (c == '_') c = '-';
    const caisson::schema::Setting* s = caisson::schema::find(name);
    if (!s) throw caisson::Error::usage("caisson.run: no setting '" + key + "' (the names are caisson run's options, '-' as '_')");
    auto one = [&](const py::handle& use) {
        std::vector<std::string> args;
        if (s->arity == 0) {
            if (!py::isinstance<py::bool_>(use)) throw caisson::Error::usage("caisson.run: " + key + " takes True or False");
            args.push_back(use.cast<bool>() ? "true" : "false");
        } else if (s->arity == 1) {
            args.push_back(text_of(use));
        } else {
            if (!is_sequence(use) || py::len(use) != static_cast<size_t>(s->arity))
                throw caisson::Error::usage("caisson.run: " + key + " takes " + std::to_string(s->arity) + " values (" +
                                            std::string(s->metavar) + ") as a tuple");
            for (const auto& item : use) args.push_back(text_of(item));
        }
        s->apply(policy, args);
    };
    const bool many = is_sequence(value) && (s->arity == 1 || (s->arity == 2 && py::len(value) > 0 && is_sequence(value[py::int_(0)])));
    if (many) {
        if (!s->repeatable) throw caisson::Error::usage("caisson.run: " + key + " takes one value, not a list");
        for (const auto& use : value) one(use);
    } else {
        one(value);
    }
}

// Reads `fd` to its end into `out`, beside the run.
// The module's own threads take none of the signals a sandbox forwards: one caught here
// would be neither the program's nor Python's main thread's to handle.
void block_forwarded_signals_here() {
    sigset_t set;
    ::sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) ::sigaddset(&set, s);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::thread drain(int fd, std::string& out) {
    return std::thread([fd, &out] {
        block_forwarded_signals_here();
        char buf[65536];
        ssize_t n;
        while ((n = ::read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
            if (n > 0) out.append(buf, static_cast<size_t>(n));
        ::close(fd);
    });
}

py::dict run(const std::vector<std::string>& argv, std::optional<py::bytes> input, bool capture_output,
             std::optional<bool> forward_signals, const py::kwargs& kwargs) {
    caisson::Policy policy = caisson::default_policy();
    // Profiles first, then the settings in the order given: as on the command line.
    if (kwargs.contains("profile")) {
        py::object prof = kwargs["profile"];
        if (is_sequence(prof)) {
            for (const auto& p : prof) caisson::apply_profile(policy, text_of(p));
        } else {
            caisson::apply_profile(policy, text_of(prof));
        }
    }
    for (const auto& [key, value] : kwargs) {
        std::string k = key.cast<std::string>();
        if (k != "profile") apply_setting(policy, k, value);
    }
    if (argv.empty() || argv[0].empty()) throw caisson::Error::usage("caisson.run: a command is needed");
    policy.process.argv = argv;
    // As caisson run, from Python's main thread (where its signal handlers run): Ctrl-C and a
    // SIGTERM reach the program while it runs. From another thread they stay the process's:
    // a server's SIGTERM must not end up in whichever sandbox read it first.
    if (!forward_signals) {
        py::object threading = py::module_::import("threading");
        forward_signals = threading.attr("current_thread")().is(threading.attr("main_thread")());
    }
    policy.process.forward_signals = *forward_signals;
    caisson::Sandbox sandbox(std::move(policy));
    std::string out_text, err_text, report;
    {
        py::gil_scoped_release unlocked;
        caisson::Outcome outcome;
        if (!capture_output && !input) {
            outcome = sandbox.run();
        } else {
            // The program's streams are ours to give: a sandbox made ahead of them takes them.
            int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, control[2] = {-1, -1};
            if (::pipe2(in, O_CLOEXEC) < 0 || (capture_output && (::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0)) ||
                ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) < 0)
                throw caisson::Error(caisson::ErrorKind::Setup, "caisson.run: pipe", "the program's streams", errno);
            std::thread feeder([fd = in[1], data = input ? std::string(*input) : std::string()] {
                block_forwarded_signals_here();
                size_t at = 0;
                while (at < data.size()) {
                    ssize_t n = ::write(fd, data.data() + at, data.size() - at);
                    if (n < 0 && errno == EINTR) continue;
                    if (n <= 0) break;
                    at += static_cast<size_t>(n);
                }
                ::close(fd);
            });
            std::thread out_reader, err_reader;
            if (capture_output) {
                out_reader = drain(out[0], out_text);
                err_reader = drain(err[0], err_text);
            }
            bool given = false;
            try {
                outcome = sandbox.run_prepared([&]() -> std::optional<caisson::PreparedProgram> {
                    if (given) return std::nullopt;
                    given = true;
                    caisson::PreparedProgram prog;
                    prog.argv = sandbox.policy().process.argv;
                    prog.env = caisson::program_environment(sandbox.policy());
                    prog.stdio[0] = in[0];
                    prog.stdio[1] = capture_output ? out[1] : ::fcntl(1, F_DUPFD_CLOEXEC, 3);
                    prog.stdio[2] = capture_output ? err[1] : ::fcntl(2, F_DUPFD_CLOEXEC, 3);
                    in[0] = out[1] = err[1] = -1;
                    prog.control = control[1];
                    return prog;
                });
            } catch (...) {
                for (int fd : {in[0], out[1], err[1]})
                    if (fd >= 0) ::close(fd);
                ::close(control[0]);
                feeder.join();
                if (out_reader.joinable()) out_reader.join();
                if (err_reader.joinable()) err_reader.join();
                throw;
            }
            ::close(control[0]);
            feeder.join();
            if (out_reader.joinable()) out_reader.join();
            if (err_reader.joinable()) err_reader.join();
        }
        report = caisson::outcome_to_json(outcome);
    }
    py::dict result = py::module_::import("json").attr("loads")(report);
    if (capture_output) {
        result["stdout"] = py::bytes(out_text);
        result["stderr"] = py::bytes(err_text);
    }
    return result;
}

}  // namespace

PYBIND11_MODULE(caisson, m) {
    m.doc() = "caisson: run untrusted programs in a Linux sandbox (namespaces, seccomp, Landlock, cgroups)";
    static py::exception<caisson::Error> error(m, "Error");
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const caisson::Error& e) {
            error(e.what());
        }
    });
    m.def("run", &run, py::arg("argv"), py::kw_only(), py::arg("input") = py::none(), py::arg("capture_output") = false,
          py::arg("forward_signals") = py::none(),
          R"(Run argv in a new sandbox and return its report as a dict.

Keyword arguments are caisson run's options with '-' as '_': allow_host=["pypi.org"],
bind=[("/src", "/src")], time_limit=10, memory="256M", net="none", profile="agent", ...
A switch takes True or False; a repeatable option takes a list. With capture_output=True the
dict has the program's "stdout" and "stderr" (bytes); input=b"..." is its standard input.
forward_signals (default: True on the main thread only) passes SIGTERM, SIGINT, SIGHUP,
SIGQUIT, SIGUSR1 and SIGUSR2 sent to this process to the program while it runs.
Raises caisson.Error when the sandbox cannot be made (nothing is left behind then).)");
}
