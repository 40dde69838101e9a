// Drives the real `caisson` binary and parses what the probe reports from inside.
#pragma once

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace caisson::test {

struct RunOptions {
    std::optional<uid_t> as_uid;  // run caisson as this (unprivileged) uid/gid
    std::vector<std::pair<int, int>> extra_fds;  // (fd in caisson, fd here) to pass down
    std::vector<std::string> env;                // extra environment entries for caisson
    int stdin_fd = -1;                           // caisson's stdin (default /dev/null)
    std::vector<std::string> wrapper;            // run caisson through this command
    // Called with caisson's pid and a reader of its stdout once the line `ready` appears.
    std::function<void(pid_t)> on_ready;
    const char* program = nullptr;               // default: the caisson binary
    // Stop reading at the program's exit, not at EOF: `caisson-oci create` hands its stdio
    // to a container that outlives it.
    bool until_exit = false;
};

struct RunResult {
    int status = -1;  // caisson's exit code, or 128 + signal
    std::string out;
    std::string err;
    nlohmann::json probe;  // the last JSON line of stdout, if any
};

const char* caisson_path();
const char* oci_path();  // caisson-oci
const char* probe_path();
const char* source_dir();

RunResult run_caisson(const std::vector<std::string>& args, const RunOptions& opts = {});

// `caisson run ARGS... -- probe PROBE_ARGS...`
RunResult run_probe(const std::vector<std::string>& args, const std::vector<std::string>& probe_args = {},
                    const RunOptions& opts = {});

// `caisson run ARGS... -- /bin/true` must be refused (exit 125) with `message` in its error.
void expect_refused(const std::vector<std::string>& args, const std::string& message, const RunOptions& opts = {});

// `caisson-oci ARGS...`
RunResult run_oci(const std::vector<std::string>& args, RunOptions opts = {});

// A whole file as text ("" when missing), and as JSON.
std::string read_file(const std::string& path);

class TempDir;
// DIR/policy.toml: a seccomp policy extending the default one with `text`.
std::string write_seccomp_policy(const TempDir& dir, const std::string& text);
// The JSON lines of an --audit file.
std::vector<nlohmann::json> audit_lines(const std::string& path);
nlohmann::json read_json(const std::string& path);

// The test process's own namespace link for a kind ("pid", "net", ...).
std::string host_ns(const std::string& kind);

// A test's precondition, checked the way caisson checks it: the line `check` of `caisson
// doctor --json` run with `as` (as an ordinary user, say). "" when it works, otherwise what
// doctor measured, for GTEST_SKIP.
std::string host_lacks(const std::string& check, const RunOptions& as = {});

// Skips the test, with the reason, unless the host gives the user of `as` what `check` names.
#define CAISSON_REQUIRE(check, as)                                          \
    do {                                                                    \
        if (std::string why_ = ::caisson::test::host_lacks(check, as); !why_.empty()) \
            GTEST_SKIP() << "this host: " << (check) << ": " << why_;      \
    } while (0)

// A caisson killed with SIGKILL in a test, as a crash would kill it. kill() goes in an
// on_ready callback; collect(), after the run, waits for the sandbox to die with it (init's
// parent-death signal, through a pidfd), reaps what reparented to this process (a
// subreaper), and runs `caisson gc`, which takes the cgroups a killed caisson leaves.
class KilledSupervisor {
public:
    KilledSupervisor() = default;
    KilledSupervisor(const KilledSupervisor&) = delete;
    KilledSupervisor& operator=(const KilledSupervisor&) = delete;
    ~KilledSupervisor();
    void kill(pid_t caisson);
    void collect();
    pid_t init() const { return init_; }

private:
    int init_pidfd_ = -1;
    pid_t init_ = 0;
    bool collected_ = false;
};

// A temporary directory, removed with its contents (and unmounted paths) at destruction.
class TempDir {
public:
    explicit TempDir(uid_t owner = 0);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A server of caisson's (`caisson listen`, `caisson pool`) started in the background: its
// first line on stderr (the one saying it listens) is read before this returns. The
// destructor stops it (SIGTERM) and waits for it.
// Everything `fd` gives until its end, or until nothing came for `idle_ms`.
std::string read_until_end(int fd, int idle_ms = 10000);

class Server {
public:
    explicit Server(std::vector<std::string> argv);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    const std::string& first_line() const { return first_line_; }
    // SIGTERM, then its exit status (128 + signal when killed).
    int stop();
    // What it wrote on stderr after its first line, to the end (after stop(); 10 s at most).
    std::string rest_of_stderr();

private:
    pid_t pid_ = -1;
    int err_ = -1;
    std::string first_line_;
};

// A tiny root filesystem: the static probe as /probe, and the usual empty directories.
void make_mini_rootfs(const std::string& dir, uid_t owner = 0);

inline constexpr uid_t kUnprivilegedUid = 4242;
inline constexpr const char* kProbeInside = "/tmp/probe";
inline constexpr uid_t kNobodyUid = 65534;  // the host uid behind a root-run sandbox's ids

}  // namespace caisson::test
