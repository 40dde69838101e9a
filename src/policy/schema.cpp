#include "policy/schema.hpp"

#include "policy/host_rules.hpp"
#include "policy/net_address.hpp"
#include "policy/seccomp_profile.hpp"
#include "policy/values.hpp"

#include <caisson/error.hpp>

#include <algorithm>
#include <cctype>
#include <array>

namespace caisson::schema {
namespace {

using Args = std::span<const std::string>;

bool on(Args a, std::string_view what) { return values::parse_bool(a[0], what); }

void add_mount(Policy& p, MountKind kind, std::string source, std::string target, uint64_t size = 0) {
    values::require_absolute(target, "mount destination");
    MountSpec m;
    m.kind = kind;
    m.source = std::move(source);
    m.target = std::move(target);
    m.size = size;
    p.fs.mounts.push_back(std::move(m));
}

// `--tmpfs DST[:SIZE]`
void apply_tmpfs(Policy& p, Args a) {
    std::string dst = a[0];
    uint64_t size = 0;
    if (auto colon = dst.rfind(':'); colon != std::string::npos) {
        size = values::parse_size(std::string_view(dst).substr(colon + 1), "--tmpfs size");
        dst.resize(colon);
    }
    add_mount(p, MountKind::Tmpfs, {}, dst, size);
}

// A ceiling: a count or a size, at least 1, or "unlimited" (none).
std::optional<uint64_t> ceiling(const std::string& text, std::string_view what, bool size) {
    if (text == "unlimited") return std::nullopt;
    uint64_t v = size ? values::parse_size(text, what) : static_cast<uint64_t>(values::parse_int(text, what));
    if (v < 1 || (!size && v > INT32_MAX)) throw Error::usage(std::string(what) + ": expected a positive number or unlimited", text);
    return v;
}

void apply_env(Policy& p, Args a) {
    auto eq = a[0].find('=');
    if (eq == std::string::npos || eq == 0)
        throw Error::usage("--setenv: expected NAME=VALUE", a[0]);
    p.process.env.push_back({a[0].substr(0, eq), a[0].substr(eq + 1)});
}

void add_landlock_path(Policy& p, const std::string& path, LandlockAccess access, std::string_view what) {
    values::require_absolute(path, what);
    p.landlock.paths.push_back({path, access});
}

void add_landlock_port(bool& restricted, std::vector<uint16_t>& ports, const std::string& text, std::string_view what) {
    restricted = true;
    if (text == "none") return;
    int port = values::parse_int(text, what);
    if (port < 0 || port > 65535) throw Error::usage(std::string(what) + ": not a TCP port", text);
    ports.push_back(static_cast<uint16_t>(port));
}

#define SHARE(ns)                                                                         \
    Setting {                                                                             \
        "share-" #ns, 0, false, "", "keep the host's " #ns " namespace",                  \
            [](Policy& p, Args a) { p.namespaces.ns = !on(a, "share-" #ns); }           \
    }

const std::array kSettings{
    SHARE(user), SHARE(pid), SHARE(mount), SHARE(net), SHARE(uts), SHARE(ipc), SHARE(cgroup),
    SHARE(time),
    Setting{"no-namespaces", 0, false, "",
            "for a host that forbids namespaces (a container, user namespaces disabled): none at all; no_new_privs, "
            "seccomp, rlimits and the supervisor stay, and Landlock stands in for the mount and network namespaces: "
            "read and execute anywhere, write only /tmp and /dev/null, no TCP bind or connect, no signals or abstract "
            "sockets outside (more --landlock-* flags widen it), and no socket but TCP and netlink made, no TCP Fast "
            "Open, no io_uring (the filter: Landlock holds only TCP); the report lists what was not applied",
            [](Policy& p, Args a) {
                if (!on(a, "no-namespaces")) return;
                Namespaces none;
                none.user = none.pid = none.mount = none.net = none.uts = none.ipc = none.cgroup = none.time = false;
                none.none = true;
                p.namespaces = none;
                p.landlock.paths.push_back({"/", LandlockAccess::ReadExec});
                p.landlock.paths.push_back({"/tmp", LandlockAccess::ReadWrite});
                p.landlock.paths.push_back({"/dev/null", LandlockAccess::ReadWrite});
                p.landlock.restrict_bind = p.landlock.restrict_connect = true;
                p.landlock.scope_abstract_unix = p.landlock.scope_signal = true;
            }},
    Setting{"net", 1, false, "MODE",
            "network: none (a new namespace with only lo, the default), host (the caller's), ns:PATH (join that one), "
            "veth (root: a veth pair into caisson's bridge, with NAT), user (pasta's user-mode stack, rootless)",
            [](Policy& p, Args a) {
                p.namespaces.net_path.clear();
                p.network.kind = Network::Kind::Loopback;
                if (a[0] == "none") {
                    p.namespaces.net = true;
                } else if (a[0] == "host") {
                    p.namespaces.net = false;
                } else if (a[0].starts_with("ns:/")) {
                    p.namespaces.net = false;
                    p.namespaces.net_path = a[0].substr(3);
                } else if (a[0] == "veth" || a[0] == "user") {
                    p.namespaces.net = true;
                    p.network.kind = a[0] == "veth" ? Network::Kind::Veth : Network::Kind::User;
                } else {
                    throw Error::usage("--net: expected none, host, ns:/ABSOLUTE/PATH, veth or user", a[0]);
                }
            }},
    Setting{"publish", 1, true, "[tcp:|udp:]HOST_PORT[:PORT]",
            "with --net veth or user: make the sandbox's PORT reachable at the host's HOST_PORT",
            [](Policy& p, Args a) { p.network.publish.push_back(net_address::parse_publish(a[0])); }},
    Setting{"veth-bridge", 1, false, "NAME", "with --net veth: the bridge caisson makes and shares (default caisson0)",
            [](Policy& p, Args a) {
                bool ok = !a[0].empty() && a[0].size() <= 15 &&
                          std::all_of(a[0].begin(), a[0].end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
                if (!ok) throw Error::usage("--veth-bridge: 1 to 15 letters, digits, '-' or '_'", a[0]);
                p.network.bridge = a[0];
            }},
    Setting{"veth-subnet", 1, false, "ADDR/PREFIX",
            "with --net veth: the bridge's IPv4 subnet (default 10.231.0.0/24; must not overlap the host's routes)",
            [](Policy& p, Args a) {
                net_address::parse_subnet(a[0], "--veth-subnet");
                p.network.subnet = a[0];
            }},
    Setting{"allow-connect", 1, true, "DEST",
            "allow connecting and sending to DEST (ADDR[/PREFIX][:PORT[-PORT]], [IPV6][/PREFIX]:PORT, loopback, any:PORT; "
            "none: nowhere) and, unless --deny-private is given, nowhere else; enforced by cgroup BPF programs, and by "
            "Landlock for TCP ports",
            [](Policy& p, Args a) {
                p.egress.restrict = true;
                if (a[0] == "none") return;
                for (auto& d : net_address::parse_destination(a[0], "--allow-connect")) p.egress.allow.push_back(std::move(d));
            }},
    Setting{"allow-host", 1, true, "NAME[:PORTS]",
            "reach NAME (a DNS name, or *.NAME for every name beneath it) on PORTS (default 80,443), and nothing else: "
            "the sandbox keeps only lo, with caisson's resolver and proxy on it (http_proxy is set); for root and "
            "ordinary users alike",
            [](Policy& p, Args a) { p.network.allow_hosts.push_back(host_rules::parse(a[0], "--allow-host")); }},
    Setting{"deny-private", 0, false, "",
            "internet only: no loopback, private, link-local or multicast destinations, nor the host's own addresses, "
            "except those --allow-connect lists",
            [](Policy& p, Args a) {
                std::erase_if(p.egress.deny, [](const NetDestination& d) { return d.text.starts_with("private "); });
                if (on(a, "deny-private"))
                    for (auto& d : net_address::private_ranges()) p.egress.deny.push_back(std::move(d));
            }},
    Setting{"lsm-exec-max", 1, false, "N",
            "BPF LSM: after the program's own, let N binaries be loaded (execve; an interpreter counts), then refuse",
            [](Policy& p, Args a) {
                int n = values::parse_int(a[0], "--lsm-exec-max");
                if (n < 0) throw Error::usage("--lsm-exec-max: '" + a[0] + "' is not a count (0 or more)");
                p.bpf_lsm.exec_max = static_cast<uint64_t>(n);
            }},
    Setting{"lsm-deny-file", 1, true, "PATH",
            "BPF LSM: refuse every open of the file at host PATH, whatever path or link reaches it",
            [](Policy& p, Args a) {
                values::require_absolute(a[0], "--lsm-deny-file");
                p.bpf_lsm.deny_files.push_back(a[0]);
            }},
    Setting{"lsm-connect-port", 1, true, "PORT",
            "BPF LSM: allow IPv4/IPv6 connects to PORT only (repeatable)",
            [](Policy& p, Args a) {
                int port = values::parse_int(a[0], "--lsm-connect-port");
                if (port < 1 || port > 65535) throw Error::usage("--lsm-connect-port: '" + a[0] + "' is not a port (1 to 65535)");
                p.bpf_lsm.connect_ports.push_back(static_cast<uint16_t>(port));
            }},
    Setting{"lsm-best-effort", 0, false, "",
            "where the kernel does not run BPF LSM programs, run without the --lsm-* rules (the report says so) instead of refusing",
            [](Policy& p, Args a) { p.bpf_lsm.best_effort = on(a, "lsm-best-effort"); }},
    Setting{"hostname", 1, false, "NAME", "the sandbox's hostname (default: caisson)",
            [](Policy& p, Args a) {
                if (a[0].empty() || a[0].size() > 64)
                    throw Error::usage("--hostname: must be 1 to 64 characters", a[0]);
                p.hostname = a[0];
            }},
    Setting{"time-offset", 1, false, "monotonic=S,boottime=S",
            "shift the time namespace's clocks by whole seconds",
            [](Policy& p, Args a) { p.time_offsets = values::parse_time_offsets(a[0]); }},
    Setting{"uid", 1, false, "N", "the program's uid inside (default 0)",
            [](Policy& p, Args a) { p.identity.uid = values::parse_id(a[0], "--uid"); }},
    Setting{"gid", 1, false, "N", "the program's gid inside (default 0)",
            [](Policy& p, Args a) { p.identity.gid = values::parse_id(a[0], "--gid"); }},
    Setting{"host-uid", 1, false, "N",
            "the host uid behind --uid (root only; default 65534 for root, your own uid otherwise)",
            [](Policy& p, Args a) { p.identity.host_uid = values::parse_id(a[0], "--host-uid"); }},
    Setting{"host-gid", 1, false, "N", "the host gid behind --gid (root only)",
            [](Policy& p, Args a) { p.identity.host_gid = values::parse_id(a[0], "--host-gid"); }},
    Setting{"map-host-root", 0, false, "",
            "DANGEROUS: make the host's root (uid/gid 0) the sandbox's uid/gid",
            [](Policy& p, Args a) { p.identity.map_host_root = on(a, "map-host-root"); }},
    Setting{"rootfs", 1, false, "DIR", "use DIR as the root instead of the host's /",
            [](Policy& p, Args a) {
                values::require_absolute(a[0], "--rootfs");
                p.fs.rootfs = a[0];
            }},
    Setting{"writable-root", 0, false, "", "bind the root read-write (default read-only)",
            [](Policy& p, Args a) { p.fs.writable_root = on(a, "writable-root"); }},
    Setting{"overlay", 0, false, "", "copy-on-write root: writes go to a tmpfs and vanish at exit",
            [](Policy& p, Args a) { p.fs.overlay = on(a, "overlay"); }},
    Setting{"overlay-size", 1, false, "BYTES", "size limit of the overlay's upper tmpfs",
            [](Policy& p, Args a) { p.fs.overlay_size = values::parse_size(a[0], "--overlay-size"); }},
    Setting{"overlay-upper", 1, false, "DIR", "keep the overlay's upper layer in DIR (implies --overlay)",
            [](Policy& p, Args a) {
                values::require_absolute(a[0], "--overlay-upper");
                p.fs.overlay_upper = a[0];
                p.fs.overlay = true;
            }},
    Setting{"tmp-size", 1, false, "BYTES", "size of the sandbox's /tmp (default 64M)",
            [](Policy& p, Args a) { p.fs.tmp_size = values::parse_size(a[0], "--tmp-size"); }},
    Setting{"host-run", 0, false, "",
            "keep the host's /run visible (its sockets reach host services; default: an empty tmpfs)",
            [](Policy& p, Args a) { p.fs.host_run = on(a, "host-run"); }},
    Setting{"host-homes", 0, false, "",
            "keep the host's home directories visible (default, with the host's root: /home, /root and every user's "
            "home are empty, but for what --bind or --ro-bind puts there)",
            [](Policy& p, Args a) { p.fs.host_homes = on(a, "host-homes"); }},
    Setting{"home", 0, false, "",
            "bring the caller's home in, read-only, with its secrets hidden (ssh and gpg keys, credentials, "
            "histories, browser profiles: the list of profiles/home.toml)",
            [](Policy& p, Args a) { p.fs.home = on(a, "home"); }},
    Setting{"workdir", 0, false, "",
            "bind the current directory read-write at its own path, after the other mounts, and start the program "
            "there (unless --chdir says otherwise)",
            [](Policy& p, Args a) { p.fs.workdir = on(a, "workdir"); }},
    Setting{"home-mask", 1, true, "PATH", "with --home: hide PATH (relative to the home) too",
            [](Policy& p, Args a) { p.fs.home_masks.push_back(a[0]); }},
    Setting{"bind", 2, true, "SRC DST", "bind host SRC read-write at DST",
            [](Policy& p, Args a) {
                values::require_absolute(a[0], "--bind source");
                add_mount(p, MountKind::Bind, a[0], a[1]);
            }},
    Setting{"ro-bind", 2, true, "SRC DST", "bind host SRC read-only at DST",
            [](Policy& p, Args a) {
                values::require_absolute(a[0], "--ro-bind source");
                add_mount(p, MountKind::RoBind, a[0], a[1]);
            }},
    Setting{"tmpfs", 1, true, "DST[:SIZE]", "mount a fresh tmpfs at DST", apply_tmpfs},
    Setting{"symlink", 2, true, "TARGET DST", "create a symlink DST pointing to TARGET",
            [](Policy& p, Args a) { add_mount(p, MountKind::Symlink, a[0], a[1]); }},
    Setting{"dir", 1, true, "DST", "create a directory DST",
            [](Policy& p, Args a) { add_mount(p, MountKind::Dir, {}, a[0]); }},
    Setting{"mask", 1, true, "PATH", "hide PATH (besides the default masks)",
            [](Policy& p, Args a) {
                values::require_absolute(a[0], "--mask");
                p.fs.masked_paths.push_back(a[0]);
            }},
    Setting{"chdir", 1, false, "DIR", "the program's working directory (default /)",
            [](Policy& p, Args a) {
                values::require_absolute(a[0], "--chdir");
                p.process.cwd = a[0];
            }},
    Setting{"setenv", 1, true, "NAME=VALUE", "set an environment variable", apply_env},
    Setting{"unsetenv", 1, true, "NAME", "remove an environment variable",
            [](Policy& p, Args a) { p.process.env.push_back({a[0], std::nullopt}); }},
    Setting{"keep-env", 0, false, "", "pass the caller's environment (default: PATH, HOME, TERM, LANG)",
            [](Policy& p, Args a) { p.process.keep_env = on(a, "keep-env"); }},
    Setting{"pass-fd", 1, true, "N", "let descriptor N reach the program (0, 1, 2 always do)",
            [](Policy& p, Args a) {
                int fd = values::parse_int(a[0], "--pass-fd");
                if (fd < 3) throw Error::usage("--pass-fd: descriptors 0, 1, 2 always pass", a[0]);
                p.process.pass_fds.push_back(fd);
            }},
    Setting{"tty", 0, false, "", "keep the caller's controlling terminal (TIOCSTI and TIOCLINUX are then blocked by seccomp)",
            [](Policy& p, Args a) { p.process.tty = on(a, "tty"); }},
    Setting{"die-with-parent", 0, false, "", "kill the sandbox when caisson's parent dies",
            [](Policy& p, Args a) { p.process.die_with_parent = on(a, "die-with-parent"); }},
    Setting{"time-limit", 1, false, "SECONDS", "kill the whole sandbox after this wall time",
            [](Policy& p, Args a) { p.process.time_limit_s = values::parse_seconds(a[0], "--time-limit"); }},
    Setting{"rlimit", 1, true, "NAME=SOFT[:HARD]", "set a resource limit (e.g. NOFILE=64, AS=1G, CORE=0)",
            [](Policy& p, Args a) { p.process.rlimits.push_back(values::parse_rlimit(a[0])); }},
    Setting{"cap-add", 1, true, "CAP", "keep capability CAP (e.g. CAP_NET_RAW, or ALL); none is kept by default",
            [](Policy& p, Args a) {
                for (int cap : values::parse_capabilities(a[0], "--cap-add"))
                    if (std::find(p.capabilities.begin(), p.capabilities.end(), cap) == p.capabilities.end())
                        p.capabilities.push_back(cap);
                std::sort(p.capabilities.begin(), p.capabilities.end());
            }},
    Setting{"cap-drop", 1, true, "CAP", "drop a capability added before (ALL: every one)",
            [](Policy& p, Args a) {
                for (int cap : values::parse_capabilities(a[0], "--cap-drop"))
                    p.capabilities.erase(std::remove(p.capabilities.begin(), p.capabilities.end(), cap),
                                         p.capabilities.end());
            }},
    Setting{"seccomp", 1, false, "POLICY",
            "seccomp policy: default, strict, none, or a TOML file (see caisson policy check)",
            [](Policy& p, Args a) { p.seccomp = seccomp_profile::load(a[0]); }},
    Setting{"landlock-ro", 1, true, "PATH", "Landlock: allow reading beneath PATH (any Landlock path denies the rest)",
            [](Policy& p, Args a) { add_landlock_path(p, a[0], LandlockAccess::Read, "--landlock-ro"); }},
    Setting{"landlock-rx", 1, true, "PATH", "Landlock: allow reading and executing beneath PATH",
            [](Policy& p, Args a) { add_landlock_path(p, a[0], LandlockAccess::ReadExec, "--landlock-rx"); }},
    Setting{"landlock-rw", 1, true, "PATH", "Landlock: allow reading and writing beneath PATH",
            [](Policy& p, Args a) { add_landlock_path(p, a[0], LandlockAccess::ReadWrite, "--landlock-rw"); }},
    Setting{"landlock-bind", 1, true, "PORT|none", "Landlock: allow TCP bind to PORT only (none: to no port)",
            [](Policy& p, Args a) { add_landlock_port(p.landlock.restrict_bind, p.landlock.bind_ports, a[0], "--landlock-bind"); }},
    Setting{"landlock-connect", 1, true, "PORT|none", "Landlock: allow TCP connect to PORT only (none: to no port)",
            [](Policy& p, Args a) {
                add_landlock_port(p.landlock.restrict_connect, p.landlock.connect_ports, a[0], "--landlock-connect");
            }},
    Setting{"landlock-scope", 1, true, "abstract-unix|signal",
            "Landlock: no abstract unix socket connections, or no signals, to processes outside",
            [](Policy& p, Args a) {
                if (a[0] == "abstract-unix") p.landlock.scope_abstract_unix = true;
                else if (a[0] == "signal") p.landlock.scope_signal = true;
                else throw Error::usage("--landlock-scope: expected abstract-unix or signal", a[0]);
            }},
    Setting{"landlock-best-effort", 0, false, "",
            "enforce the Landlock rights this kernel has and report the rest (default: refuse to start)",
            [](Policy& p, Args a) { p.landlock.best_effort = on(a, "landlock-best-effort"); }},
    Setting{"max-pids", 1, false, "N|unlimited",
            "ceiling on the sandbox's processes and threads (default 1024; a cgroup as root, else RLIMIT_NPROC)",
            [](Policy& p, Args a) { p.ceilings.pids = ceiling(a[0], "--max-pids", false); }},
    Setting{"max-memory", 1, false, "BYTES|unlimited",
            "ceiling on the sandbox's memory (default 2G; a cgroup as root, else RLIMIT_AS per process)",
            [](Policy& p, Args a) { p.ceilings.memory = ceiling(a[0], "--max-memory", true); }},
    Setting{"max-open-files", 1, false, "N|unlimited", "ceiling on one process's descriptors (default 1024, RLIMIT_NOFILE)",
            [](Policy& p, Args a) { p.ceilings.open_files = ceiling(a[0], "--max-open-files", false); }},
    Setting{"max-inotify-instances", 1, false, "N|unlimited",
            "inotify instances of the sandbox (default 32; its user namespace's own count)",
            [](Policy& p, Args a) { p.ceilings.inotify_instances = ceiling(a[0], "--max-inotify-instances", false); }},
    Setting{"max-inotify-watches", 1, false, "N|unlimited",
            "inotify watches of the sandbox (default 16384; its user namespace's own count)",
            [](Policy& p, Args a) { p.ceilings.inotify_watches = ceiling(a[0], "--max-inotify-watches", false); }},
    Setting{"memory", 1, false, "BYTES", "cgroup: memory limit (K, M, G suffixes)",
            [](Policy& p, Args a) { p.resources.memory = values::parse_size(a[0], "--memory"); }},
    Setting{"memory-swap", 1, false, "BYTES", "cgroup: memory plus swap limit (default: equal to --memory, no swap)",
            [](Policy& p, Args a) { p.resources.memory_swap = values::parse_size(a[0], "--memory-swap"); }},
    Setting{"oom-kill-group", 0, false, "", "an out-of-memory kill ends the whole sandbox (default on)",
            [](Policy& p, Args a) { p.resources.oom_kill_group = on(a, "oom-kill-group"); }},
    Setting{"cpus", 1, false, "N", "cgroup: CPU time per wall time (0.5 = half a CPU)",
            [](Policy& p, Args a) { p.resources.cpus = values::parse_cpus(a[0]); }},
    Setting{"cpu-weight", 1, false, "N", "cgroup: CPU weight 1..10000 (100 = an equal share)",
            [](Policy& p, Args a) { p.resources.cpu_weight = values::parse_weight(a[0], "--cpu-weight"); }},
    Setting{"cpuset-cpus", 1, false, "LIST", "cgroup: run only on these CPUs (e.g. 0-1,3)",
            [](Policy& p, Args a) { p.resources.cpuset_cpus = values::parse_cpu_list(a[0], "--cpuset-cpus"); }},
    Setting{"cpuset-mems", 1, false, "LIST", "cgroup: allocate only on these memory nodes",
            [](Policy& p, Args a) { p.resources.cpuset_mems = values::parse_cpu_list(a[0], "--cpuset-mems"); }},
    Setting{"pids", 1, false, "N", "cgroup: at most N processes and threads",
            [](Policy& p, Args a) {
                int n = values::parse_int(a[0], "--pids");
                if (n < 1) throw Error::usage("--pids: at least 1", a[0]);
                p.resources.pids = static_cast<uint64_t>(n);
            }},
    Setting{"io-weight", 1, false, "N", "cgroup: block I/O weight 1..10000",
            [](Policy& p, Args a) { p.resources.io_weight = values::parse_weight(a[0], "--io-weight"); }},
    Setting{"io-max", 1, true, "MAJ:MIN:rbps=N,wbps=N,riops=N,wiops=N", "cgroup: block I/O limits of a device",
            [](Policy& p, Args a) { p.resources.io_max.push_back(values::parse_io_max(a[0])); }},
    Setting{"hugetlb", 1, true, "SIZE=LIMIT", "cgroup: huge pages of SIZE (2MB, 1GB) up to LIMIT bytes",
            [](Policy& p, Args a) {
                auto eq = a[0].find('=');
                if (eq == std::string::npos || eq == 0) throw Error::usage("--hugetlb: expected SIZE=LIMIT (e.g. 2MB=64M)", a[0]);
                p.resources.hugetlb.emplace_back(a[0].substr(0, eq), values::parse_size(a[0].substr(eq + 1), "--hugetlb"));
            }},
    Setting{"rdma", 1, true, "DEVICE=hca_handle=N,hca_object=N", "cgroup v2: RDMA limits of a device",
            [](Policy& p, Args a) {
                auto eq = a[0].find('=');
                if (eq == std::string::npos || eq == 0) throw Error::usage("--rdma: expected DEVICE=hca_handle=N,hca_object=N", a[0]);
                std::string limits = a[0].substr(eq + 1);
                std::replace(limits.begin(), limits.end(), ',', ' ');
                p.resources.rdma.emplace_back(a[0].substr(0, eq), limits);
            }},
    Setting{"misc", 1, true, "RESOURCE=N", "cgroup v2: a misc controller limit (e.g. sev=1)",
            [](Policy& p, Args a) {
                auto eq = a[0].find('=');
                if (eq == std::string::npos || eq == 0) throw Error::usage("--misc: expected RESOURCE=N", a[0]);
                int n = values::parse_int(a[0].substr(eq + 1), "--misc");
                if (n < 0) throw Error::usage("--misc: a limit is 0 or more", a[0]);
                p.resources.misc.emplace_back(a[0].substr(0, eq), static_cast<uint64_t>(n));
            }},
    Setting{"device-allow", 1, true, "'TYPE MAJ:MIN ACCESS'", "cgroup: allow a device besides caisson's /dev set (OCI syntax)",
            [](Policy& p, Args a) { p.resources.devices.push_back(values::parse_device_rule(a[0], true)); }},
    Setting{"device-deny", 1, true, "'TYPE MAJ:MIN ACCESS'", "cgroup: deny a device (e.g. 'c 1:5 rwm'); the last matching rule wins",
            [](Policy& p, Args a) { p.resources.devices.push_back(values::parse_device_rule(a[0], false)); }},
    Setting{"cgroup-parent", 1, false, "PATH", "create the sandbox's cgroup under PATH (relative to each hierarchy's root)",
            [](Policy& p, Args a) {
                std::string path = a[0];
                while (!path.empty() && path.front() == '/') path.erase(0, 1);
                if (path.empty() || path.find("..") != std::string::npos)
                    throw Error::usage("--cgroup-parent: expected a path below the hierarchy's root", a[0]);
                p.resources.cgroup_parent = path;
            }},
    Setting{"cgroup", 0, false, "", "give the sandbox a cgroup even without limits (accounting, freeze)",
            [](Policy& p, Args a) { p.resources.cgroup = on(a, "cgroup"); }},
    Setting{"learn", 1, false, "FILE",
            "learn mode: let every system call through, record them, and write a seccomp policy allowing just those",
            [](Policy& p, Args a) {
                if (a[0].empty()) throw Error::usage("--learn: a file name is needed");
                p.learn_path = a[0];
            }},
    Setting{"vm", 0, false, "",
            "run the program in a guest kernel of its own (qemu; software emulation for now), and there under this "
            "same policy; the VMM and its file server are jailed on the host (docs/vm.md)",
            [](Policy& p, Args a) { p.vm.enabled = on(a, "vm"); }},
    Setting{"vm-kernel", 1, false, "FILE", "with --vm: the guest's kernel (default: the newest under /var/cache/caisson-guest)",
            [](Policy& p, Args a) { p.vm.kernel = a[0]; }},
    Setting{"report", 1, false, "FILE", "write a JSON report of how the program ended",
            [](Policy& p, Args a) { p.report_path = a[0]; }},
    Setting{"monitor", 0, false, "",
            "print each refusal as it happens on standard error, one line each: a system call the seccomp policy "
            "refused or killed for (and the rule), an [open] or [[supervise]] refusal, a name or connection the "
            "egress rules (--allow-host) refused; with --audit, the same as JSON lines",
            [](Policy& p, Args a) { p.monitor = on(a, "monitor"); }},
    Setting{"audit", 1, false, "FILE",
            "write each decision of the seccomp supervisor ([[supervise]], notify and kill rules) to FILE as JSON lines",
            [](Policy& p, Args a) {
                if (a[0].empty()) throw Error::usage("--audit: a file name is needed");
                p.audit_path = a[0];
            }},
};

#undef SHARE

}  // namespace

std::span<const Setting> settings() { return kSettings; }

const Setting* find(std::string_view name) {
    for (const auto& s : kSettings)
        if (s.name == name) return &s;
    return nullptr;
}

}  // namespace caisson::schema
