#include "run/preflight.hpp"

#include "mech/trusted_dir.hpp"
#include "mech/devfs.hpp"

#include "mech/fds.hpp"

#include "mech/idmap.hpp"
#include "mech/namespaces.hpp"
#include "mech/self_exe.hpp"
#include "mech/timens.hpp"
#include "filter/bpf_eval.hpp"
#include "filter/condition.hpp"
#include "filter/seccomp_compiler.hpp"
#include "filter/syscall_table.hpp"
#include "policy/homes.hpp"
#include "policy/learned.hpp"
#include "policy/host_rules.hpp"
#include "policy/profile.hpp"
#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "filter/egress_program.hpp"
#include "mech/landlock.hpp"
#include "policy/supervision.hpp"
#include "mech/pasta.hpp"
#include "policy/values.hpp"

#include <caisson/error.hpp>
#include <caisson/vm.hpp>

#include <fcntl.h>
#include <cstring>
#include <functional>
#include <dirent.h>
#include <linux/capability.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

extern char** environ;

namespace caisson::run {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

void require_dir(const std::string& path, const char* what) {
    struct stat st{};
    if (::stat(path.c_str(), &st) < 0) throw Error(ErrorKind::Usage, what, path, errno);
    if (!S_ISDIR(st.st_mode)) throw Error(ErrorKind::Usage, what, path, ENOTDIR);
}

// Whether anything is mounted below `dir` in our mount namespace (/proc/self/mountinfo).
bool has_submounts(const std::string& dir) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    std::string prefix = dir == "/" ? "/" : dir + "/";
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id, parent, devno, root, mountpoint;
        fields >> id >> parent >> devno >> root >> mountpoint;
        if (mountpoint != dir && mountpoint.rfind(prefix, 0) == 0) return true;
    }
    return false;
}

// A mask hides a name, not a file: a secret with a second name (a hard link elsewhere on the
// same filesystem) would be readable there. Fail closed, naming it: the masked files, and
// the files in the masked directories and in their subdirectories one level down (where
// keys live: ~/.ssh/id_ed25519, ~/.gnupg/private-keys-v1.d/*), at most 4096 of them.
void refuse_linked_secrets(const std::vector<std::string>& masks) {
    size_t looked = 0;
    std::function<void(const std::string&, int)> look = [&](const std::string& path, int depth) {
        if (++looked > 4096) return;
        struct stat st{};
        if (::lstat(path.c_str(), &st) < 0) return;
        if (S_ISREG(st.st_mode) && st.st_nlink > 1)
            throw Error::usage("--home: " + path + " has " + std::to_string(st.st_nlink) +
                               " names (hard links); caisson hides it by this one, so the others would stay readable: "
                               "remove the other links (find / -xdev -samefile " + path + ")");
        if (!S_ISDIR(st.st_mode) || depth > 1) return;
        DIR* d = ::opendir(path.c_str());
        if (!d) return;
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d))
            if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
        ::closedir(d);
        for (const auto& n : names) look(path + "/" + n, depth + 1);
    };
    for (const auto& m : masks) look(m, 0);
}

std::string env_value(const std::vector<std::string>& env, std::string_view name) {
    for (const auto& e : env)
        if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
            return e.substr(name.size() + 1);
    return {};
}

}  // namespace

std::vector<std::string> make_environment(const Policy& policy) {
    const Process& proc = policy.process;
    std::vector<std::string> env;
    if (proc.keep_env) {
        // All but the note a protected re-execution left for caisson itself (mech/self_exe).
        for (char** e = environ; e && *e; ++e)
            if (std::string_view(*e).rfind(std::string(mech::kReexecFromVar) + "=", 0) != 0) env.emplace_back(*e);
    } else {
        env.emplace_back(std::string("PATH=") + kDefaultPath);
        env.emplace_back("HOME=/");
        const char* term = ::getenv("TERM");
        env.emplace_back(std::string("TERM=") + (term ? term : "dumb"));
        const char* lang = ::getenv("LANG");
        env.emplace_back(std::string("LANG=") + (lang ? lang : "C.UTF-8"));
    }
    // --allow-host: programs that honour a proxy use caisson's (the rest go through its
    // resolver to the same place); --setenv and --unsetenv still have the last word.
    if (!policy.network.allow_hosts.empty()) {
        const std::string proxy = "http://127.0.0.1:" + std::to_string(kEgressProxyPort);
        for (const char* name : {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"}) {
            std::string key = std::string(name) + "=";
            std::erase_if(env, [&](const std::string& e) { return e.rfind(key, 0) == 0; });
            env.push_back(key + proxy);
        }
        for (const char* name : {"no_proxy", "NO_PROXY"}) {
            std::string key = std::string(name) + "=";
            std::erase_if(env, [&](const std::string& e) { return e.rfind(key, 0) == 0; });
            env.push_back(key + "localhost,127.0.0.1,::1");
        }
    }
    std::vector<EnvOp> ops = proc.env;
    ops.insert(ops.end(), proc.run_env.begin(), proc.run_env.end());
    for (const auto& op : ops) {
        std::string key = op.name + "=";
        env.erase(std::remove_if(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(key, 0) == 0; }),
                  env.end());
        if (op.value) env.push_back(key + *op.value);
    }
    return env;
}

namespace {

// The policy the program's filter enforces: with --tty, TIOCSTI and TIOCLINUX are refused
// in front of every other rule (and with no policy at all, by a filter of their own).
// Learn mode: every call is a notification the supervisor records and lets through, but
// those the program's own process makes after the filter (exec, and on failure the error
// report and exit), which must not wait for a supervisor that is not listening yet.
// With the in-kernel recorder (mech/learn_trace), only the calls whose pointers learn reads
// are notifications; the recorder counts the rest.
seccomp::Policy learn_policy(bool traced) {
    seccomp::Policy s;
    s.name = "learn";
    s.mode = seccomp::Mode::Filter;
    s.default_action = {traced ? seccomp::ActionKind::Allow : seccomp::ActionKind::Notify, 0};
    seccomp::Rule r;
    r.syscalls = traced ? std::vector<std::string>{"open", "openat", "openat2", "creat", "connect", "bind", "sendto"}
                        : std::vector<std::string>{"execve", "exit", "exit_group", "write"};
    r.action = {traced ? seccomp::ActionKind::Notify : seccomp::ActionKind::Allow, 0};
    r.origin = "--learn";
    s.rules.push_back(std::move(r));
    return s;
}

// A refusal caisson puts in front of every rule of the program's filter (with no policy at
// all, in a filter of its own that allows the rest).
void refuse_first(seccomp::Policy& s, const char* syscall, int err, const char* when, const char* origin) {
    if (s.mode == seccomp::Mode::None) {
        s.mode = seccomp::Mode::Filter;
        s.default_action = {seccomp::ActionKind::Allow, 0};
        s.rules.clear();
    }
    seccomp::Rule r;
    r.syscalls = {syscall};
    r.action = {seccomp::ActionKind::Errno, static_cast<uint16_t>(err)};
    r.conditional = when != nullptr;  // none: the call whatever its arguments
    if (when) {
        r.when_text = when;
        r.when = filter::parse_condition(r.when_text);
    }
    r.origin = origin;
    s.rules.insert(s.rules.begin(), std::move(r));
}

// What a learning run refuses all the same: the kernel attack surface and ways past the
// sandbox that caisson's default policy refuses by name to every program. Learning lets the
// rest through unchecked, so a hostile program under --learn would otherwise reach these;
// a policy that needs one of them is written by hand, never learned.
constexpr const char* kNeverLearned[] = {
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "userfaultfd",
    "perf_event_open", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init", "acct", "swapon", "swapoff", "reboot", "syslog",
    "iopl", "ioperm", "modify_ldt", "uselib", "vmsplice", "lookup_dcookie", "quotactl", "nfsservctl"};

seccomp::Policy effective_seccomp(const Policy& p, bool learn_traced) {
    seccomp::Policy s = p.learn_path.empty() ? p.seccomp : learn_policy(learn_traced);
    if (!p.learn_path.empty()) {
        for (const char* call : kNeverLearned) refuse_first(s, call, EPERM, nullptr, "--learn (never learned)");
        // Nor a new namespace, which no learned policy allows (policy/learned).
        const std::string when = "arg0 & (" + learned::namespace_flags() + ")";
        refuse_first(s, "clone", EPERM, when.c_str(), "--learn (never learned)");
        refuse_first(s, "unshare", EPERM, when.c_str(), "--learn (never learned)");
        refuse_first(s, "clone3", ENOSYS, nullptr, "--learn (never learned)");
    }
    // Where there is no network namespace to stand behind (--no-namespaces), Landlock refuses
    // TCP connects and binds, and nothing else: not datagrams, not a Unix socket's path (the
    // user's D-Bus, systemd's manager, an LXD or Docker socket would run code outside), not
    // MPTCP or SCTP streams (which its TCP rules do not see), not another family (vsock,
    // SMC, TIPC), not a connect made by TCP Fast Open's sendto. So the only sockets made are
    // plain TCP and netlink (the kernel's own), with no Fast Open, and no io_uring (whose
    // operations make and connect sockets past the filter). socketpair stays: it reaches
    // nothing outside.
    // Learning too: what a learning run could reach, the program could.
    if (p.namespaces.none) {
        // Netlink's route and sock_diag protocols only (the C library's address queries): not
        // NETLINK_USERSOCK's messages to other programs of the host's network namespace.
        refuse_first(s, "socket", EACCES,
                     "!((arg0 == AF_NETLINK && arg2 in {0, 4}) || (arg0 in {AF_INET, AF_INET6} && (arg1 & 0xf) == SOCK_STREAM && "
                     "arg2 in {0, 6}))",
                     "--no-namespaces");
        refuse_first(s, "sendto", EACCES, "arg3 & 0x20000000", "--no-namespaces (MSG_FASTOPEN)");
        refuse_first(s, "sendmsg", EACCES, "arg2 & 0x20000000", "--no-namespaces (MSG_FASTOPEN)");
        refuse_first(s, "sendmmsg", EACCES, "arg3 & 0x20000000", "--no-namespaces (MSG_FASTOPEN)");
        refuse_first(s, "io_uring_setup", EPERM, nullptr, "--no-namespaces");
    }
    if (p.process.tty) refuse_first(s, "ioctl", EPERM, "arg1 in {TIOCSTI, TIOCLINUX}", "--tty");
    return s;
}

bool returns_notifications(const std::vector<sock_filter>& program) {
    for (const auto& insn : program)
        if (insn.code == (BPF_RET | BPF_K) && (insn.k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF) return true;
    return false;
}

// A Landlock path must exist in the sandbox's view: under a mount the policy creates, or in
// the root, resolved inside it (never a string join on the host).
void require_landlock_path(const Policy& p, const std::string& path) {
    auto under = [&](const std::string& dir) {
        return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                               (dir == "/" || path[dir.size()] == '/'));
    };
    for (const char* fresh : {"/proc", "/dev", "/sys", "/tmp", "/run"})
        if (under(fresh)) return;
    for (const auto& m : p.fs.mounts)
        if (under(m.target)) return;
    kernel::Fd root(::open(p.fs.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw Error(ErrorKind::Usage, "--rootfs", p.fs.rootfs, errno);
    kernel::Fd fd(kernel::openat2(root.get(), path.c_str(), O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS));
    if (!fd) throw Error(ErrorKind::Usage, "Landlock path (inside the sandbox)", path, errno);
}

// The homes are hidden where the root is the host's own (policy/homes): named "/", or a path
// that leads there (an attack run gave root `--rootfs` through a link to / and saw /home).
bool hides_homes(const Policy& p) {
    if (!p.namespaces.mount || p.fs.host_homes) return false;
    if (std::filesystem::path(p.fs.rootfs).lexically_normal() == "/") return true;
    struct stat root{}, given{};
    if (::stat("/", &root) < 0) return false;
    if (p.fs.rootfs_ino != 0) return root.st_dev == p.fs.rootfs_dev && root.st_ino == p.fs.rootfs_ino;  // what init clones
    return ::stat(p.fs.rootfs.c_str(), &given) == 0 && root.st_dev == given.st_dev && root.st_ino == given.st_ino;
}

// A path with its symlinks followed, "" when it has none (it does not exist).
std::string real_path(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

}  // namespace

void preflight(const Policy& p, bool as_root) {
    if (p.process.argv.empty()) throw Error::usage("no program given (caisson run [OPTIONS] -- PROGRAM [ARGS...])");
    if (p.process.argv[0].empty()) throw Error::usage("the program's name is empty");
    const auto& ns = p.namespaces;
    // fs.device_nodes: a plain name caisson does not place itself, at most four, and each
    // with the device cgroup's leave (without a rule no device filter is installed at all,
    // and the node would be open to whatever its mode allows).
    if (p.fs.device_nodes.size() > static_cast<size_t>(mech::kMaxExtraDevNodes))
        throw Error::usage("fs.device_nodes: at most " + std::to_string(mech::kMaxExtraDevNodes));
    for (const auto& d : p.fs.device_nodes) {
        static const char* const kTaken[] = {"null", "zero", "full", "random", "urandom", "tty", "ptmx",
                                             "fd",   "stdin", "stdout", "stderr", "pts", "shm"};
        const bool taken = std::any_of(std::begin(kTaken), std::end(kTaken), [&](const char* t) { return d.name == t; });
        if (d.name.empty() || d.name.size() > 48 || d.name.find('/') != std::string::npos || d.name == "." || d.name == ".." || taken)
            throw Error::usage("fs.device_nodes: '" + d.name + "' is not a name caisson may give a device in /dev");
        const bool allowed = std::any_of(p.resources.devices.begin(), p.resources.devices.end(), [&](const DeviceRule& r) {
            return r.allow && r.type == 'c' && r.major == static_cast<int64_t>(d.major) && r.minor == static_cast<int64_t>(d.minor);
        });
        if (!allowed)
            throw Error::usage("fs.device_nodes: /dev/" + d.name + " needs a device rule that allows c " + std::to_string(d.major) +
                               ":" + std::to_string(d.minor) + " (resources.devices)");
    }
    if (!ns.mount) {
        if (p.fs.rootfs != "/" || p.fs.overlay || !p.fs.mounts.empty() || p.fs.home || !p.fs.home_masks.empty())
            throw Error::usage("--share-mount: filesystem options need a mount namespace of the sandbox's own");
    } else {
        require_dir(p.fs.rootfs, "--rootfs");
        // As root, reached through links of root's only: another user's would choose the root.
        if (p.fs.rootfs != "/") (void)mech::open_trusted_dir(p.fs.rootfs, mech::link_trust_for_this_user(), "--rootfs");
        for (const auto& m : p.fs.mounts) {
            if (m.kind != MountKind::Bind && m.kind != MountKind::RoBind) continue;
            if (::access(m.source.c_str(), F_OK) < 0)
                throw Error(ErrorKind::Usage, m.kind == MountKind::Bind ? "--bind source" : "--ro-bind source",
                            m.source, errno);
        }
        if (p.fs.overlay) {
            if (!p.fs.overlay_upper.empty()) require_dir(p.fs.overlay_upper, "--overlay-upper");
            if (!as_root && has_submounts(p.fs.rootfs))
                throw Error::usage("--overlay as an ordinary user needs a --rootfs with nothing mounted below it "
                                   "(the kernel refuses a lower layer with locked submounts)",
                                   p.fs.rootfs);
        }
    }
    if (!ns.uts && p.hostname != "caisson") throw Error::usage("--hostname needs a UTS namespace (drop --share-uts)");
    if (!ns.time && (p.time_offsets.monotonic_s || p.time_offsets.boottime_s))
        throw Error::usage("--time-offset needs a time namespace (drop --share-time)");
    // A directory (or an O_PATH handle, which may be one) held by the program is a way out
    // of its root (CVE-2024-21626): `caisson run ... < /` would hand it the host's root.
    for (int fd : p.process.pass_fds) {
        if (fd < 3) throw Error::usage("--pass-fd: descriptors 0, 1, 2 always pass", std::to_string(fd));
        if (std::string why = mech::way_out_through(fd); !why.empty())
            throw Error::usage("--pass-fd: " + why);
    }
    if (p.process.tty && p.process.stdio != std::array<int, 3>{0, 1, 2})
        throw Error::usage("--tty gives the program the terminal as its streams: leave process.stdio as it is");
    if (!p.process.tty)
        for (int fd : p.process.stdio)
            if (std::string why = fd < 0 ? "" : mech::way_out_through(fd); !why.empty())
                throw Error::usage("process.stdio (the program's standard streams): " + why);
    // Library callers fill the policy without the schema's parsers: check what they check.
    if (p.process.cwd.empty() || p.process.cwd.front() != '/')
        throw Error::usage("--chdir: must be an absolute path", p.process.cwd);
    for (const auto& m : p.fs.mounts)
        if (m.target.empty() || m.target.front() != '/')
            throw Error::usage("mount destination: must be an absolute path", m.target);
    for (const auto& l : p.landlock.paths) {
        if (l.path.empty() || l.path.front() != '/') throw Error::usage("Landlock path: must be absolute", l.path);
        if (ns.mount) require_landlock_path(p, l.path);
        else if (::access(l.path.c_str(), F_OK) < 0) throw Error(ErrorKind::Usage, "Landlock path", l.path, errno);
    }
    if (p.network.kind != Network::Kind::Loopback && !ns.net)
        throw Error::usage("--net veth/user: the sandbox needs a network namespace of its own (drop --share-net)");
    if (p.network.kind == Network::Kind::Veth && !as_root)
        throw Error::usage("--net veth: links, bridges and NAT need root (--net user works for everyone)");
    // Under --vm the host's side is passt's (run/vm_host checks it), and in the guest the
    // network is the guest's own device (mech/guest_nic): no pasta, no tun.
    if (p.network.kind == Network::Kind::User && !p.vm.enabled && !in_vm_guest()) {
        if (mech::find_pasta().empty()) throw Error::usage("--net user: pasta not found (Debian package passt; or set CAISSON_PASTA)");
        if (std::string why = mech::tun_unusable(::getuid()); !why.empty()) throw Error::usage(why);
        // pasta makes a connection for whatever a frame on the tap names, the host's loopback
        // included (Debian 12's pasta: an attack run's packet socket reached a listener on the
        // host's 127.0.0.1 and ::1, and got its answers). Only frames the sandbox's own stack
        // writes keep to what pasta maps; a program that writes its own (a packet socket), or
        // rewrites or reroutes them (routes, tc), or moves its network is refused.
        for (int cap : p.capabilities)
            if (cap == CAP_NET_ADMIN || cap == CAP_NET_RAW || cap == CAP_SYS_ADMIN)
                throw Error::usage("--net user: the sandbox would keep " + values::capability_name(cap) +
                                   ", with which it could hand pasta frames of its own making, addressed to the host's "
                                   "loopback, which pasta would connect to (use --net veth, or drop the capability)");
    }
    if (!p.network.allow_hosts.empty()) {
        // The proxy must be the only way out: a namespace with nothing but lo.
        if (!ns.net || p.network.kind != Network::Kind::Loopback)
            throw Error::usage("--allow-host: the sandbox's only way out must be caisson's proxy, so it needs --net none "
                               "(the default), not --net host, ns:, veth or user");
        if (host_rules::all_ports(p.network.allow_hosts).size() > host_rules::kMaxPorts)
            throw Error::usage("--allow-host: at most " + std::to_string(host_rules::kMaxPorts) + " different ports");
        for (int cap : p.capabilities)
            if (cap == CAP_NET_ADMIN || cap == CAP_NET_RAW || cap == CAP_SYS_ADMIN)
                throw Error::usage("--allow-host: the sandbox would keep " + values::capability_name(cap) +
                                   ", with which it could take over caisson's listeners, add routes or enter another "
                                   "network namespace");
    }
    if (!p.network.publish.empty() && p.network.kind == Network::Kind::Loopback)
        throw Error::usage("--publish: needs --net veth or --net user");
    if (p.egress.enabled()) {
        if (!as_root || !p.network.allow_hosts.empty()) {
            // An ordinary user's address rules are enforced by caisson's egress proxy (the
            // cgroup BPF filter is root's), and root's beside --allow-host (whose proxy is the
            // way out): the allowed prefixes are put on the sandbox's lo, where the proxy's
            // listeners take the connections and make them, TCP only.
            if (!ns.net || p.network.kind != Network::Kind::Loopback)
                throw Error::usage("--allow-connect/--deny-private as an ordinary user: enforced by caisson's proxy, which must be "
                                   "the sandbox's only way out: needs --net none (the default)");
            size_t ports = host_rules::all_ports(p.network.allow_hosts).size();
            for (const auto& d : p.egress.allow) {
                if (d.v6)
                    throw Error::usage("--allow-connect " + d.text + ": IPv6 destinations need root and no --allow-host (the cgroup BPF filter)");
                if (d.prefix < 8) throw Error::usage("--allow-connect " + d.text + ": as an ordinary user or beside --allow-host, a prefix of /8 or narrower");
                if (d.addr[0] == 127 || d.addr[0] == 0 || d.addr[0] >= 224 || (d.addr[0] == 198 && (d.addr[1] & 0xfe) == 18))
                    throw Error::usage("--allow-connect " + d.text + ": as an ordinary user or beside --allow-host, not loopback, 0/8, 198.18/15 or multicast");
                ports += static_cast<size_t>(d.port_hi - d.port_lo) + 1;
            }
            if (ports > host_rules::kMaxPorts)
                throw Error::usage("--allow-connect as an ordinary user: a listener per port, at most " +
                                   std::to_string(host_rules::kMaxPorts) + " ports in all (name them: ADDR:PORT)");
        }
        for (int cap : p.capabilities)
            if (cap == CAP_NET_RAW || cap == CAP_NET_ADMIN)
                throw Error::usage("--allow-connect/--deny-private: the sandbox would keep " + values::capability_name(cap) +
                                   ", whose raw and packet sockets pass around the egress filter");
    }
    if (p.bpf_lsm.enabled()) {
        if (!as_root && !p.bpf_lsm.best_effort)
            throw Error::usage("--lsm-*: BPF LSM programs need root to load (--lsm-best-effort runs without them)");
        for (const auto& path : p.bpf_lsm.deny_files) {
            struct stat st{};
            if (::stat(path.c_str(), &st) < 0) throw Error(ErrorKind::Usage, "--lsm-deny-file: stat", path, errno);
        }
    }
    // The host's processes in the host's /proc: an ordinary user's own are open to the
    // sandbox (same uid), and their /proc/PID/root and cwd lead into the hidden homes.
    if (!as_root && !ns.pid && hides_homes(p))
        throw Error::usage("--share-pid: the host's processes of yours reach the hidden homes through /proc/PID/root and "
                           "/proc/PID/cwd; add --host-homes if the homes may be seen");
    if (!p.fs.home && !p.fs.home_masks.empty()) throw Error::usage("--home-mask: needs --home");
    if (!as_root && !ns.user && (ns.mount || ns.pid || ns.net || ns.uts || ns.ipc || ns.cgroup || ns.time))
        throw Error::usage("--share-user: an ordinary user needs a user namespace to create the others");
}

std::vector<std::string> exec_candidates(const std::vector<std::string>& env, const std::string& prog) {
    // PATH lookup happens against the sandbox's environment, not the caller's.
    if (prog.find('/') != std::string::npos) return {prog};
    std::vector<std::string> out;
    std::string path = env_value(env, "PATH");
    if (path.empty()) path = kDefaultPath;
    std::string_view rest(path);
    while (true) {
        auto colon = rest.find(':');
        std::string dir(rest.substr(0, colon));
        out.push_back((dir.empty() ? std::string(".") : dir) + "/" + prog);
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    return out;
}

LaunchPlan build_plan(const Policy& p, uid_t caller_uid, gid_t caller_gid, bool learn_traced) {
    // In caisson's guest (--vm) the caller is the guest's root; whose homes to hide and which
    // home --home may bring are the host caller's to decide, as the host would.
    const uid_t home_uid = vm_guest_caller_uid().value_or(caller_uid);
    LaunchPlan plan;
    plan.policy = &p;
    plan.as_root = caller_uid == 0;
    plan.clone_flags = mech::clone_flags(p.namespaces);
    plan.new_userns = p.namespaces.user;
    plan.steps.uid = p.identity.uid;
    plan.steps.gid = p.identity.gid;
    (void)caller_gid;
    // Without a user namespace, the ids inside are the host's: root stays root only when
    // asked for by name; otherwise uid/gid 0 become the unprivileged host ids.
    if (!p.namespaces.user && plan.as_root && !p.identity.map_host_root) {
        if (plan.steps.uid == 0) plan.steps.uid = p.identity.host_uid.value_or(mech::kNobody);
        if (plan.steps.gid == 0) plan.steps.gid = p.identity.host_gid.value_or(mech::kNobody);
    }

    // A fresh procfs needs our own pid namespace; a fresh sysfs our own network namespace
    // (and, in a user namespace, one owned by it).
    plan.root.fs = &p.fs;
    for (const auto& d : p.fs.device_nodes) plan.root.device_nodes.push_back({d.name.c_str(), d.major, d.minor});
    plan.root.proc_fresh = p.namespaces.pid;
    plan.root.sysfs_fresh = p.namespaces.net;
    if (p.fs.tmp_size) plan.root.tmp_size_option = "size=" + std::to_string(p.fs.tmp_size);
    plan.root.mount_source_fds.assign(p.fs.mounts.size(), -1);
    // Init takes the program's ids before it builds the root only in a user namespace
    // (run/init.cpp); as the host's root it builds as root and the program changes ids later.
    plan.root.builder_is_the_program = plan.new_userns;
    // The host's homes, hidden where the root is the host's, and the caller's brought back
    // with its secrets masked for --home (policy/homes decides which).
    if (hides_homes(p) || p.fs.home) {
        std::ifstream passwd("/etc/passwd");
        std::stringstream text;
        text << passwd.rdbuf();
        const char* env_home = ::getenv("HOME");
        if (hides_homes(p)) {
            // Other directories of the user's that the environment names, outside its home.
            std::vector<std::string> extra;
            for (const char* var : {"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "GNUPGHOME"})
                if (const char* v = ::getenv(var)) extra.emplace_back(v);
            plan.root.hidden_dirs = homes::to_hide(text.str(), home_uid, env_home ? env_home : "", extra, real_path);
            // And where the same directories show again: a bind mount of /home elsewhere, a
            // second mount of the disk they are on.
            std::ifstream mountinfo("/proc/self/mountinfo");
            std::stringstream mounts;
            mounts << mountinfo.rdbuf();
            for (auto& other : homes::other_mounts_of(plan.root.hidden_dirs, mounts.str()))
                if (::access(other.c_str(), F_OK) == 0) plan.root.hidden_dirs.push_back(std::move(other));
            plan.root.hidden_fds.assign(plan.root.hidden_dirs.size(), -1);
        }
        if (p.fs.home) {
            plan.root.home = homes::home_of(text.str(), home_uid, env_home ? env_home : "");
            if (plan.root.home.empty())
                throw Error::usage("--home: uid " + std::to_string(home_uid) + " has no home directory ($HOME or /etc/passwd)");
            Policy builtin;
            profile::apply_text(builtin, homes::builtin_profile_text(), "profiles/home.toml (built in)");
            homes::check_home(plan.root.home, text.str(), home_uid);
            // Only what a bind brings: a --dir or --tmpfs at a hidden path must not lift its mask.
            std::vector<std::string> bound;
            for (const auto& m : p.fs.mounts)
                if (m.kind == MountKind::Bind || m.kind == MountKind::RoBind) bound.push_back(m.target);
            plan.root.home_masks = homes::masks_in(plan.root.home, builtin.fs.home_masks, p.fs.home_masks, bound);
            refuse_linked_secrets(plan.root.home_masks);
        }
    }
    for (const auto& m : p.fs.mounts)
        plan.root.tmpfs_size_options.push_back(m.kind == MountKind::Tmpfs && m.size ? "size=" + std::to_string(m.size) : "");

    if (p.fs.overlay) {
        auto& o = plan.root.overlay;
        o.enabled = true;
        o.lowerdir = p.fs.rootfs;
        if (!p.fs.overlay_upper.empty()) {
            o.upper_base = p.fs.overlay_upper;
            o.upperdir = p.fs.overlay_upper + "/upper";
            o.workdir = p.fs.overlay_upper + "/work";
        }
        if (p.fs.overlay_size) o.size_option = "size=" + std::to_string(p.fs.overlay_size);
    }

    plan.new_timens = p.namespaces.time;
    plan.timens_offsets = mech::timens_offsets_text(p.time_offsets);

    plan.env_storage = make_environment(p);
    // --home: HOME is that home (git, ssh and the shells look there), unless the user set it.
    if (!plan.root.home.empty() &&
        std::none_of(p.process.env.begin(), p.process.env.end(), [](const EnvOp& op) { return op.name == "HOME"; })) {
        for (auto& e : plan.env_storage)
            if (e.rfind("HOME=", 0) == 0) e = "HOME=" + plan.root.home;
        if (std::none_of(plan.env_storage.begin(), plan.env_storage.end(), [](const std::string& e) { return e.rfind("HOME=", 0) == 0; }))
            plan.env_storage.push_back("HOME=" + plan.root.home);
    }
    for (auto& e : plan.env_storage) plan.envp.push_back(e.data());
    plan.envp.push_back(nullptr);
    for (const auto& a : p.process.argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
    plan.argv.push_back(nullptr);

    plan.exec_candidates = exec_candidates(plan.env_storage, p.process.argv[0]);
    plan.steps.pass_fds = p.process.pass_fds;
    std::sort(plan.steps.pass_fds.begin(), plan.steps.pass_fds.end());
    plan.steps.pass_fds.erase(std::unique(plan.steps.pass_fds.begin(), plan.steps.pass_fds.end()), plan.steps.pass_fds.end());

    uint64_t keep_caps = 0;  // a bit per CAP_* kept, in all five sets
    for (int cap : p.capabilities)
        if (cap >= 0 && cap < 64) keep_caps |= 1ull << cap;
    ProgramSteps& steps = plan.steps;
    steps.caps = mech::CapabilitySets::all(keep_caps);
    steps.lock_securebits = true;  // root inside cannot regain what was dropped
    // Without a user namespace of its own, root leaves its ids for the program's here.
    steps.change_ids = !plan.new_userns && plan.as_root;
    steps.no_new_privs = true;
    steps.cwd = p.process.cwd;
    steps.cwd_label = p.process.cwd;

    // The egress policy's TCP ports become Landlock connect rules too, a second layer under
    // the cgroup programs, where the kernel has Landlock's network rules (ABI 4). Beside
    // --allow-host every connection goes to caisson's proxy on lo: its ports for names and
    // its HTTP proxy's are the sandbox's to connect to as well.
    Landlock landlock = p.landlock;
    if (auto ports = egress::landlock_connect_ports(p.egress); ports && !landlock.restrict_connect) {
        int abi = mech::landlock_abi();
        if (abi >= 4) {
            landlock.restrict_connect = true;
            landlock.connect_ports = *ports;
            if (!p.network.allow_hosts.empty()) {
                for (uint16_t port : host_rules::all_ports(p.network.allow_hosts)) landlock.connect_ports.push_back(port);
                landlock.connect_ports.push_back(kEgressProxyPort);
                std::sort(landlock.connect_ports.begin(), landlock.connect_ports.end());
                landlock.connect_ports.erase(std::unique(landlock.connect_ports.begin(), landlock.connect_ports.end()),
                                             landlock.connect_ports.end());
            }
        }
    }
    // Without a pid namespace the host's processes are in the sandbox's /proc and in reach
    // of kill(): those of the program's host uid (an ordinary user's shell, other root-run
    // sandboxes' 65534), and its own init. Any Landlock domain refuses the program ptrace-mode
    // access to processes outside it (/proc/PID/root, cwd, mem, environ, fd), and its signal
    // scope refuses signalling them.
    if (!p.namespaces.pid) landlock.scope_signal = true;
    if (landlock.enabled()) {
        plan.steps.landlock = true;
        plan.steps.landlock_plan = landlock_rights::plan(landlock, mech::landlock_abi());
        plan.steps.landlock = plan.steps.landlock_plan.enforces();
    }

    seccomp::Policy sp = effective_seccomp(p, learn_traced);
    if (!sp.supervised.empty() && sp.mode != seccomp::Mode::Filter)
        throw Error::usage("seccomp policy '" + sp.name + "': [[supervise]] needs a filter");
    if (sp.open.enabled()) {
        if (sp.mode != seccomp::Mode::Filter) throw Error::usage("seccomp policy '" + sp.name + "': [open] needs a filter");
        // The other ABIs' open calls take other layouts; they would go around the rules.
        if (sp.abis.size() != 1 || sp.abis[0] != seccomp::Abi::X86_64)
            throw Error::usage(sp.open.origin + ": [open] rules decide x86_64 calls only: set abi = [\"x86_64\"]");
        // The opener has the program's privileges: with CAP_SYS_PTRACE the program could
        // take it over and open anything.
        if (keep_caps & (1ull << CAP_SYS_PTRACE))
            throw Error::usage(sp.open.origin + ": [open] rules cannot hold against a program that keeps CAP_SYS_PTRACE");
        plan.open_rules = sp.open;
    }
    if (sp.mode == seccomp::Mode::Filter) {
        filter::CompileOptions notify_kills;
        notify_kills.kill_process_via_notify = true;
        notify_kills.errno_via_notify = p.monitor;
        // Supervised calls, and those their conditions watch, go to the supervisor before
        // any rule of the policy; the policy's rules still decide what it lets through.
        plan.seccomp_supervised = sp.supervised;
        plan.steps.seccomp = filter::compile(supervision::with_supervision(sp), notify_kills).program;
        plan.steps.seccomp_listener = returns_notifications(plan.steps.seccomp);
        // Without notifications the two compilations would be the same program.
        plan.seccomp_truth = plan.steps.seccomp_listener ? filter::compile(sp).program : plan.steps.seccomp;
        plan.seccomp_decides_often = plan.steps.seccomp_listener && (!sp.supervised.empty() || sp.open.enabled() || p.monitor ||
                                                                     returns_notifications(plan.seccomp_truth));
        supervision::refuse_bypasses(sp, plan.seccomp_truth);
        // The filter is in place when the program is exec'd: the policy must allow that, and
        // an exit for when exec fails. A call that would be a notification there would wait
        // for a supervisor that is not listening yet.
        // Allowed by number alone: whatever the arguments are then, nothing blocks.
        auto by_number = [&](const char* name) { return filter::action_by_number(plan.steps.seccomp, name); };
        auto allowed = [&](const char* name) { return by_number(name) == SECCOMP_RET_ALLOW; };
        auto notified = [&](const char* name) { return by_number(name) == SECCOMP_RET_USER_NOTIF; };
        if (!allowed("execve")) {
            // A supervised execve: the program sends the listener itself, then execs, and the
            // supervisor lets that first call through.
            auto watched = supervision::State(sp.supervised).watched();
            bool supervised_execve = std::find(watched.begin(), watched.end(), "execve") != watched.end();
            if (!supervised_execve || !notified("execve") || !allowed("sendmsg"))
                throw Error::usage("seccomp policy '" + sp.name +
                                   "' does not allow execve by number alone, which starting the program needs"
                                   " (a supervised execve needs sendmsg allowed by number)");
            plan.seccomp_listener_early = true;
        }
        if (allowed("exit_group")) plan.seccomp_exit_nr = SYS_exit_group;
        else if (allowed("exit")) plan.seccomp_exit_nr = SYS_exit;
        else throw Error::usage("seccomp policy '" + sp.name + "' allows neither exit nor exit_group by number alone");
        plan.seccomp_allows_write = allowed("write");
        // The caller's session keyring is the sandbox's unless it joins one of its own: only
        // worth a keyring where the policy lets the key calls through (the default does not).
        auto refused = [&](const char* name) {
            auto a = by_number(name);
            if (!a) return false;
            const uint32_t act = *a & SECCOMP_RET_ACTION_FULL;
            return act == SECCOMP_RET_ERRNO || act == SECCOMP_RET_KILL_PROCESS || act == SECCOMP_RET_KILL_THREAD ||
                   act == SECCOMP_RET_TRAP;
        };
        plan.new_session_keyring = !(refused("keyctl") && refused("add_key") && refused("request_key"));
    }
    return plan;
}

}  // namespace caisson::run
