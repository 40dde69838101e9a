// The policy model: plain data, no system calls. Every front end (CLI flags, TOML profiles,
// later OCI config.json) fills this one structure; the launcher only reads it.
#pragma once

#include <caisson/seccomp.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace caisson {

// Which namespaces are new. Every one is new by default; `--share-X` keeps the host's.
struct Namespaces {
    bool user = true;
    bool pid = true;
    bool mount = true;
    bool net = true;
    bool uts = true;
    bool ipc = true;
    bool cgroup = true;
    bool time = true;
    // With net = false: join this network namespace (a host path such as
    // /run/netns/NAME or /proc/PID/ns/net) instead of keeping the caller's.
    std::string net_path;
    // --no-namespaces: none at all, asked for by name (a host that forbids them); the report
    // then lists them as not applied.
    bool none = false;
};

struct TimeOffsets {
    int64_t monotonic_s = 0;
    int64_t boottime_s = 0;
};

// Who the program is inside, and which host ids stand behind that.
struct Identity {
    uint32_t uid = 0;
    uint32_t gid = 0;
    // Host ids behind uid/gid. Unset: the caller's own id for an ordinary user, and the
    // unprivileged `nobody` (65534) when the caller is root.
    std::optional<uint32_t> host_uid;
    std::optional<uint32_t> host_gid;
    // The one explicit way to make the host's root the sandbox's root.
    bool map_host_root = false;
};

enum class MountKind { Bind, RoBind, Tmpfs, Symlink, Dir };

struct MountSpec {
    MountKind kind = MountKind::Bind;
    std::string source;  // host path for binds, link target for symlinks
    std::string target;  // path inside the sandbox
    uint64_t size = 0;   // tmpfs bytes, 0 = the kernel's default
    uint32_t mode = 0755;
    // A bind of a directory checked before the sandbox was made (--workdir's): nonzero, the
    // source must still be this one (st_dev, st_ino) when it is bound, whatever its path
    // leads to by then.
    uint64_t source_dev = 0, source_ino = 0;
};

struct Filesystem {
    std::string rootfs = "/";
    // Where the sandbox is made (Sandbox), the directory `rootfs` names then, as root reached
    // through links of root's only; init refuses another. 0: not pinned.
    uint64_t rootfs_dev = 0, rootfs_ino = 0;
    bool writable_root = false;
    bool overlay = false;
    uint64_t overlay_size = 0;     // bytes of the tmpfs upper layer, 0 = kernel default
    std::string overlay_upper;     // keep the upper layer in this host directory
    uint64_t tmp_size = 64ull << 20;  // the sandbox's /tmp
    bool host_run = false;            // keep the host's /run (and its service sockets) visible
    bool host_homes = false;          // keep the host's home directories visible (default: empty)
    bool home = false;                // the caller's home, read-only, its secrets hidden
    std::vector<std::string> home_masks;  // more to hide in it (relative), beyond profiles/home.toml's
    // The caller's working directory, read-write at its own path, after the other mounts;
    // the program starts there unless a working directory was given (--workdir).
    bool workdir = false;
    std::vector<MountSpec> mounts; // in the order given, after /proc, /dev, /sys, /tmp
    std::vector<std::string> masked_paths;    // hidden: /dev/null over files, empty tmpfs over dirs
    std::vector<std::string> readonly_paths;  // re-bound read-only
    // Host character devices shown in the sandbox's minimal /dev under their own name (the
    // host's node, bound; an error unless it is that device). The device cgroup still judges
    // each use. caisson's VM jail gives qemu /dev/kvm so.
    struct DeviceNode {
        std::string name;  // in /dev: "kvm"
        unsigned major = 0, minor = 0;
    };
    std::vector<DeviceNode> device_nodes;
};

struct Rlimit {
    int resource = 0;  // RLIMIT_*
    uint64_t soft = 0;
    uint64_t hard = 0;  // RLIM_INFINITY for unlimited
};

struct EnvOp {
    std::string name;
    std::optional<std::string> value;  // nullopt: unset
};

struct Process {
    std::vector<std::string> argv;
    std::string cwd = "/";
    bool keep_env = false;
    std::vector<EnvOp> env;  // applied in order over the base environment
    // Applied after `env`: what belongs to this run alone, not to the sandbox's policy (the
    // connection's TCP* variables that `caisson listen` sets). A pool compares `keep_env`
    // and `env` with its own, and takes these from the run as it takes argv.
    std::vector<EnvOp> run_env;
    std::vector<int> pass_fds;
    // The caller's descriptors that become the program's 0, 1, 2; -1: /dev/null. A library
    // caller whose own streams are a client's socket (an inetd-style service) gives the
    // program something else; by default the program shares the caller's.
    std::array<int, 3> stdio{0, 1, 2};
    bool tty = false;
    bool die_with_parent = false;
    // SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to the caller go to the
    // program, and the caller no longer sees them while the sandbox runs: for a process that
    // exists to run it (caisson run). Off for a library caller, whose signals stay its own.
    bool forward_signals = false;
    double time_limit_s = 0;  // 0 = none
    std::vector<Rlimit> rlimits;
};

// ListDir: list directories beneath, read no file there (what a file server's root needs).
enum class LandlockAccess { Read, ReadWrite, ReadExec, ListDir };

struct LandlockPath {
    std::string path;  // inside the sandbox
    LandlockAccess access = LandlockAccess::Read;
};

// Landlock restricts the program further, inside its own view of the world: filesystem
// access beneath listed paths, TCP ports, and scopes (abstract unix sockets, signals).
struct Landlock {
    std::vector<LandlockPath> paths;  // when any: every other path is denied
    bool restrict_bind = false;       // when true: TCP bind only to bind_ports
    bool restrict_connect = false;    // when true: TCP connect only to connect_ports
    std::vector<uint16_t> bind_ports;
    std::vector<uint16_t> connect_ports;
    bool scope_abstract_unix = false;  // no connecting to abstract sockets outside
    bool scope_signal = false;         // no signals to processes outside
    bool best_effort = false;          // enforce what the kernel can, report the rest
    bool enabled() const {
        return !paths.empty() || restrict_bind || restrict_connect || scope_abstract_unix || scope_signal;
    }
};

// A device rule in OCI's syntax: "c 1:3 rwm", "b *:* r", "a".
struct DeviceRule {
    bool allow = true;
    char type = 'a';          // 'a' all, 'c' char, 'b' block
    int64_t major = -1;       // -1: any
    int64_t minor = -1;
    std::string access = "rwm";
};

struct IoMax {
    uint32_t major = 0, minor = 0;
    std::optional<uint64_t> rbps, wbps, riops, wiops;
};

// A limit set to this is written as the kernel's "no limit" ("max"; -1 on v1), which lifts
// an earlier one (caisson-oci update, an OCI limit of -1).
inline constexpr uint64_t kUnlimited = UINT64_MAX;

struct DeviceWeight {
    uint32_t major = 0, minor = 0;
    uint16_t weight = 0;  // 10..1000, blkio's scale
};

// Resource control through cgroups. Unset fields are not limited; when every field is
// unset and no cgroup option is given, the sandbox gets no cgroup of its own. One model for
// both faces: `caisson run`'s flags fill the first group, caisson-oci's linux.resources all.
struct Resources {
    std::optional<uint64_t> memory;        // bytes
    std::optional<uint64_t> memory_swap;   // memory plus swap, bytes (OCI's and Docker's sense); unset: no swap
    bool oom_kill_group = true;            // an OOM kill takes the whole sandbox
    std::optional<double> cpus;            // CPU time per wall time (0.5: half a CPU)
    std::optional<uint64_t> cpu_weight;    // 1..10000, cgroup v2's scale
    std::string cpuset_cpus, cpuset_mems;  // "0-1,3"
    std::optional<uint64_t> pids;
    std::optional<uint64_t> io_weight;     // 1..10000
    std::vector<IoMax> io_max;             // a rate of 0 is no limit
    std::vector<std::pair<std::string, uint64_t>> hugetlb;  // page size ("2MB") -> bytes
    std::vector<std::pair<std::string, std::string>> rdma;  // device -> "hca_handle=N hca_object=N"
    std::vector<std::pair<std::string, uint64_t>> misc;     // resource -> limit
    std::vector<DeviceRule> devices;       // after caisson's own /dev set; last match wins
    std::string cgroup_parent;             // relative to each hierarchy's root; default "caisson"
    bool cgroup = false;                   // a cgroup even without limits (freeze, accounting)

    // The finer controls of OCI's linux.resources, written as given (no flags of `caisson run`).
    std::optional<uint64_t> memory_low;         // reservation, bytes (v1: soft_limit_in_bytes)
    std::optional<uint64_t> memory_swappiness;  // 0..100; v1 only
    bool memory_oom_killer_off = false;         // v1 only
    std::optional<uint64_t> memory_kernel_tcp;  // v1 only
    std::optional<uint64_t> cpu_shares;         // v1's scale, 2..262144 (v2: runc's conversion to a weight)
    std::optional<uint64_t> cpu_quota_us, cpu_period_us, cpu_burst_us;
    std::optional<uint64_t> cpu_rt_runtime_us, cpu_rt_period_us;  // v1 only
    std::optional<int64_t> cpu_idle;
    std::optional<uint16_t> blkio_weight, blkio_leaf_weight;  // 10..1000 (v2: converted; leaf: v1 only)
    std::vector<DeviceWeight> blkio_weight_devices;
    std::optional<uint32_t> net_cls_classid;                 // v1 only
    std::vector<std::pair<std::string, uint32_t>> net_prio;  // interface -> priority; v1 only
    std::map<std::string, std::string> unified;              // cgroup v2 file -> value

    bool any() const {
        return memory || memory_swap || cpus || cpu_weight || !cpuset_cpus.empty() || !cpuset_mems.empty() || pids ||
               io_weight || !io_max.empty() || !hugetlb.empty() || !rdma.empty() || !misc.empty() ||
               !devices.empty() || !cgroup_parent.empty() || cgroup || memory_low || memory_swappiness ||
               memory_oom_killer_off || memory_kernel_tcp || cpu_shares || cpu_quota_us || cpu_period_us || cpu_burst_us ||
               cpu_rt_runtime_us || cpu_rt_period_us || cpu_idle || blkio_weight || blkio_leaf_weight ||
               !blkio_weight_devices.empty() || net_cls_classid || !net_prio.empty() || !unified.empty();
    }
};

// Ceilings every sandbox has unless they are raised, or lifted with "unlimited" (nullopt):
// defaults safe for hostile code. Processes and memory are held by the sandbox's cgroup
// where one can be had (as root); where none can (an ordinary user without a delegated
// cgroup), by what the kernel still offers: RLIMIT_NPROC, which a user namespace of its own
// counts for this sandbox alone, and RLIMIT_AS per process. The report says which. An
// explicit `resources` limit (--pids, --memory) replaces its ceiling and needs a cgroup.
// The inotify counts are the sandbox's user namespace's own (/proc/sys/user/max_inotify_*).
struct Ceilings {
    std::optional<uint64_t> pids = 1024;             // processes and threads of the sandbox
    std::optional<uint64_t> memory = 2ull << 30;     // bytes, the whole sandbox
    std::optional<uint64_t> open_files = 1024;       // descriptors of one process (RLIMIT_NOFILE)
    std::optional<uint64_t> inotify_instances = 32;  // per uid of the sandbox
    std::optional<uint64_t> inotify_watches = 16384;
};

// One destination of the egress policy: an address prefix and a port range. IPv4 and IPv6
// (an IPv4-mapped IPv6 address, ::ffff:a.b.c.d, is judged by the IPv4 rules).
struct NetDestination {
    bool v6 = false;
    std::array<uint8_t, 16> addr{};  // network byte order; IPv4 uses the first 4 bytes
    uint8_t prefix = 0;              // bits that must match
    uint16_t port_lo = 0, port_hi = 65535;
    std::string text;                // as written, for errors and the report
};

// Where the sandbox may connect (TCP, connected UDP) and send (unconnected UDP), decided in
// the kernel by cgroup BPF programs. An allowed destination wins over a denied one. What
// neither lists is denied when only allowed destinations were given (`--allow-connect`:
// "only these"), and allowed when denied ones were (`--deny-private`: "the internet, and
// these exceptions").
struct Egress {
    bool restrict = false;                // --allow-connect was given (even `none`)
    std::vector<NetDestination> allow;
    std::vector<NetDestination> deny;     // --deny-private fills it
    bool enabled() const { return restrict || !deny.empty(); }
    bool default_deny() const { return restrict && deny.empty(); }
};

// Per-sandbox BPF LSM programs (lsm_cgroup: the kernel runs them for the sandbox's cgroup
// only), with their state in BPF maps. Where the kernel does not run BPF LSM programs, a
// policy with them is refused, unless `best_effort`: then the run goes on without them and
// the report says so.
struct BpfLsm {
    std::optional<uint64_t> exec_max;        // binaries loaded after the program's own (an interpreter counts)
    std::vector<std::string> deny_files;     // host paths: no open reaches their inodes, by any path
    std::vector<uint16_t> connect_ports;     // the only IPv4/IPv6 destination ports; empty: any
    bool best_effort = false;
    bool enabled() const { return exec_max || !deny_files.empty() || !connect_ports.empty(); }
};

// A port of the sandbox reachable from the host: `--publish [tcp:|udp:]HOST_PORT:SANDBOX_PORT`.
struct PortMapping {
    bool udp = false;
    uint16_t host_port = 0;
    uint16_t sandbox_port = 0;
};

// `--allow-host NAME[:PORTS]`: a name the sandbox may reach through caisson's egress proxy.
// NAME is a DNS name, or `*.` and a name for every name beneath it (not the name itself).
struct HostRule {
    std::string pattern;          // lower case, no trailing dot
    std::vector<uint16_t> ports;  // sorted, unique; 80 and 443 when none were given
};

// What a new network namespace holds besides `lo`.
struct Network {
    enum class Kind {
        Loopback,  // nothing else (--net none)
        Veth,      // a veth pair into a bridge caisson makes, with NAT (--net veth, root)
        User,      // pasta's user-mode stack: the host's connectivity, rootless (--net user)
    };
    Kind kind = Kind::Loopback;
    std::string bridge = "caisson0";
    std::string subnet = "10.231.0.0/24";  // the bridge's; the bridge takes .1, sandboxes the rest
    std::vector<PortMapping> publish;
    // When any: the sandbox (with only `lo`, --net none) reaches these names and nothing
    // else, through caisson's resolver and proxy listening in its namespace.
    std::vector<HostRule> allow_hosts;
};

// `--vm`: the program runs in a guest kernel of its own (qemu), and there under this very
// policy; the VMM and the file server that shows it the host's files are jailed by caisson
// on the host (docs/vm.md).
struct Vm {
    bool enabled = false;
    std::string kernel;  // --vm-kernel; empty: the newest under /var/cache/caisson-guest
};

struct Policy {
    Namespaces namespaces;
    std::string hostname = "caisson";
    TimeOffsets time_offsets;
    Identity identity;
    Filesystem fs;
    Process process;
    std::vector<int> capabilities;  // CAP_* the program keeps, in all five sets; none by default
    seccomp::Policy seccomp;        // default: the built-in `default` policy
    Landlock landlock;
    Network network;
    Egress egress;
    BpfLsm bpf_lsm;
    Resources resources;
    Ceilings ceilings;
    std::string report_path;
    // Every decision of the seccomp supervisor ([[supervise]] rules, notify and kill rules),
    // as JSON lines.
    std::string audit_path;
    // Each refusal, as it happens, one line on caisson's standard error: the seccomp
    // filter's (its errno answers come through the supervisor then), [open] and
    // [[supervise]] rules', and the egress proxy's (--allow-host).
    bool monitor = false;
    // Learn mode: every system call is let through and recorded (seccomp notifications),
    // and a least-privilege seccomp policy for what was seen is written to this file.
    std::string learn_path;
    Vm vm;
    std::vector<std::string> profiles;  // the profiles that filled this policy, in order
};

// What OCI runtimes hide; also caisson's default.
std::vector<std::string> default_masked_paths();
std::vector<std::string> default_readonly_paths();

// A policy with every default filled in.
Policy default_policy();

}  // namespace caisson
