// The library's entry point: run one program under a policy and report how it ended.
// The `caisson` executable is a thin front end over this.
#pragma once

#include <caisson/policy.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace caisson {

struct StepTime {
    std::string step;
    uint64_t us = 0;
};

// A system call seen by the supervisor through a seccomp notification.
struct SyscallEvent {
    std::string syscall;
    uint32_t nr = 0;
    std::string abi;
    uint64_t args[6] = {};
    int pid = 0;           // in the supervisor's pid namespace
    std::string action;    // the rule's action: kill-process, notify
};

// What the sandbox's cgroup saw, when it had one.
struct CgroupReport {
    std::vector<std::string> paths;
    std::vector<std::string> limits;  // the files written: "memory.max=268435456"
    std::optional<uint64_t> memory_peak;
    std::optional<uint64_t> oom_kills;
    std::optional<uint64_t> cpu_user_us, cpu_system_us, cpu_throttled_us;
    std::optional<uint64_t> pids_peak;
};

// What the BPF LSM programs saw, when the policy had them.
struct BpfLsmReport {
    bool applied = false;      // false: best effort, and this kernel does not run them
    std::string why;           // when not applied
    uint64_t execs = 0;        // binaries loaded (the program's own included)
    uint64_t denied_execs = 0, denied_opens = 0, denied_connects = 0;
};

// What the egress filter did, when the policy had one.
struct EgressReport {
    std::vector<std::string> hooks;    // the programs attached
    uint64_t denied = 0;               // attempts refused
    std::vector<std::string> denials;  // the first 64: "connect4 tcp 10.0.0.1:443"
};

// What the egress proxy decided, when the policy allowed hosts by name (--allow-host).
struct NameEgressReport {
    uint64_t allowed = 0;               // connections passed on, names answered
    uint64_t refused = 0;
    std::vector<std::string> refusals;  // the first 64: "dns evil.example", "connect evil.example:443 (proxy)"
    std::vector<std::string> reached;   // where connections went, once each: "pypi.org:443"
    // What confines the proxy itself ("seccomp egress-proxy", "landlock ..."; "not
    // enforced: ..." for Landlock's parts this kernel lacks).
    std::vector<std::string> proxy_confinement;
};

struct Outcome {
    bool exited = false;     // true: exit_code is valid; false: killed by term_signal
    int exit_code = 0;
    int term_signal = 0;
    bool time_limit_fired = false;
    double wall_s = 0;
    double user_cpu_s = 0;
    double system_cpu_s = 0;
    uint64_t peak_rss_kb = 0;
    std::vector<std::string> protections;  // what was actually applied
    std::vector<StepTime> setup;           // time per setup step inside the sandbox
    std::vector<std::string> not_enforced; // best effort: protections this kernel could not give
    std::optional<SyscallEvent> seccomp_violation;  // the kill rule that ended the sandbox
    std::vector<SyscallEvent> seccomp_events;       // `notify` rules that fired (the first 64)
    std::vector<std::string> syscalls_seen;         // every call a `notify` rule let through, by name
    // Of those, for calls whose meaning sits in one argument (socket's family, ioctl's
    // request, prctl's option, fcntl's command): the values seen, up to 33.
    std::map<std::string, std::set<uint64_t>> syscall_arg_values;
    // Learn mode: the real paths opened, inside the sandbox (kPathRead | kPathWrite |
    // kPathCreate), and the addresses connected to and bound ("127.0.0.1:80", "[::1]:53",
    // "unix:/run/x", "unix:@name").
    static constexpr unsigned kPathRead = 1, kPathWrite = 2, kPathCreate = 4;
    std::map<std::string, unsigned> paths_seen;
    std::set<std::string> connects_seen, binds_seen;
    bool oom = false;                               // the memory limit was hit and something was killed
    std::optional<CgroupReport> cgroup;
    std::optional<EgressReport> egress;
    std::optional<NameEgressReport> egress_names;
    // --monitor: the refusals it printed, by source ("seccomp", "egress").
    std::optional<std::map<std::string, uint64_t>> refusals;
    std::optional<BpfLsmReport> bpf_lsm;

    // The code a shell would see: the exit code, or 128 + signal.
    int shell_status() const { return exited ? exit_code : 128 + term_signal; }
};

// A program for a sandbox made ahead of it (a warm pool, caisson/pool.hpp): its command
// line and environment (as the sandbox's own: caisson adds nothing but --home's HOME), its
// standard streams (taken: closed once handed over, so that their readers see the program's
// end, not the sandbox's), and a control socket: 4-byte packets are signals to forward; its
// end (the caller gone) ends the sandbox.
struct PreparedProgram {
    std::vector<std::string> argv, env;
    int stdio[3] = {-1, -1, -1};
    int control = -1;
    // Told the program's status (its exit code, or 128 + the signal) as soon as it is known,
    // before the sandbox is taken down: a caller waiting for it need not wait for that.
    std::function<void(int status)> exited;
};

class Sandbox {
public:
    explicit Sandbox(Policy policy);
    // Runs the program to its end. Throws caisson::Error when the sandbox cannot be built;
    // nothing is left behind in that case.
    Outcome run();
    // Builds the sandbox up to the program's exec, then asks `next` for the program (it may
    // wait for one as long as it likes) and runs it as run() does; the policy's own argv is
    // not used. `next` returning nothing ends the sandbox unused. Refused for what a program
    // handed over later cannot have: a terminal, passed descriptors, a supervised execve.
    Outcome run_prepared(const std::function<std::optional<PreparedProgram>()>& next);
    const Policy& policy() const { return policy_; }
    // CVE-2019-5736: whether the program could rewrite this process's executable (its host
    // uid owns the file, or is root, and the file is not protected). A program whose
    // interpreter is "#!/proc/self/exe" runs this very binary inside the sandbox, where a
    // second process reaches it through /proc/PID/exe. run() refuses such a sandbox: call
    // run_from_protected_copy() first.
    bool exposes_own_binary() const;

private:
    Outcome launch(const std::function<std::optional<PreparedProgram>()>* next);
    Policy policy_;
};

// Re-executes this program (the same argv and environment) from a copy no sandbox can write:
// a detached read-only bind of its binary as root, a sealed memfd copy otherwise. Returns at
// once when the binary is protected already or the caller could not write it anyway; throws
// caisson::Error when it cannot. The OCI runtime calls it before every create and exec.
void run_from_protected_copy(char** argv);

// The environment `policy`'s program starts with (the base, caisson's additions such as the
// egress proxy's variables, then the policy's own operations): what a PreparedProgram for
// that policy should carry.
std::vector<std::string> program_environment(const Policy& policy);

// The report as JSON text (the schema --report writes).
std::string outcome_to_json(const Outcome& outcome);

}  // namespace caisson
