// `caisson run --vm` on the host: the guest's kernel and initramfs (made for each run), the
// file server and qemu each in a caisson sandbox of their own, and the caller's streams
// relayed over the wire until the program's status comes back.
#include "mech/initramfs.hpp"
#include "mech/fds.hpp"
#include "mech/idmap.hpp"
#include "mech/landlock.hpp"
#include "mech/passt.hpp"
#include "run/vm_passt.hpp"
#include "run/preflight.hpp"
#include "policy/vm_plan.hpp"
#include "run/vm_wire.hpp"

#include <caisson/error.hpp>
#include <caisson/fd.hpp>
#include <caisson/settings.hpp>
#include <caisson/vm.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <map>
#include <optional>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace caisson {

namespace {

namespace wire = run::vm_wire;
namespace plan = policy::vm;
using Clock = std::chrono::steady_clock;

constexpr const char* kGuestCache = "/var/cache/caisson-guest";
constexpr const char* kQemu = "/usr/bin/qemu-system-x86_64";
constexpr const char* kPolicyVar = "CAISSON_VM_POLICY";
// One environment string may hold 128 KiB (MAX_ARG_STRLEN); a policy is about 12 KiB.
constexpr size_t kMaxPolicyText = 96 * 1024;

// The default guest kernel: one built for the guest by scripts/vm-kernel.sh (named
// vmlinuz-V-caisson: everything built in, nothing else, so it boots in a fraction of the
// time) before a Debian kernel package scripts/setup.sh unpacked; the newest of its kind.
std::string newest_guest_kernel() {
    std::string best;
    bool best_ours = false;
    DIR* d = ::opendir(kGuestCache);
    if (!d) return best;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string boot = std::string(kGuestCache) + "/" + e->d_name + "/boot";
        DIR* b = ::opendir(boot.c_str());
        if (!b) continue;
        while (dirent* k = ::readdir(b)) {
            std::string n = k->d_name;
            if (n.rfind("vmlinuz-", 0) != 0) continue;
            const bool ours = plan::built_for_guest(n);
            // By version: 6.1.0-10 after 6.1.0-9.
            if (best.empty() || (ours && !best_ours) ||
                (ours == best_ours && ::strverscmp((boot + "/" + n).c_str(), best.c_str()) > 0)) {
                best = boot + "/" + n;
                best_ours = ours;
            }
        }
        ::closedir(b);
    }
    ::closedir(d);
    return best;
}

std::string virtiofsd_path() {
    for (const char* p : {"/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"})
        if (::access(p, X_OK) == 0) return p;
    return {};
}

// Whether qemu's jail could use /dev/kvm: it answers, and `nobody` (the jail's user, with no
// groups) may open it (Debian's udev makes it 0666; a root:kvm 0660 node is not for it).
bool kvm_works() {
    Fd fd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    struct stat st{};
    return fd && ::fstat(fd.get(), &st) == 0 && S_ISCHR(st.st_mode) && (st.st_mode & 0006) == 0006 &&
           ::ioctl(fd.get(), KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
}

// The modules of a Debian kernel package as scripts/setup.sh unpacks it: PKG/boot/vmlinuz-V
// beside PKG/lib/modules/V; else the host's /lib/modules/V.
std::string modules_dir(const std::string& kernel) {
    std::string name = kernel.substr(kernel.rfind('/') + 1);
    if (name.rfind("vmlinuz-", 0) != 0) return {};
    std::string version = name.substr(8);
    std::string boot = kernel.substr(0, kernel.rfind('/'));
    std::string pkg = boot.substr(0, boot.rfind('/'));
    for (const std::string& d : {pkg + "/lib/modules/" + version, "/lib/modules/" + version}) {
        struct stat st;
        if (::stat(d.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return d;
    }
    return {};
}


// The kernel's config-V beside it (Debian's packages and scripts/vm-kernel.sh install one),
// or nullopt. The file may be the caller's (--vm-kernel): a regular file only, looked at
// before it is opened (a device is never opened: some act on open), not followed through a
// link, never waited on (a FIFO), read up to 1 MiB.
std::optional<std::string> kernel_config(const std::string& kernel) {
    const size_t slash = kernel.rfind('/');
    const std::string name = kernel.substr(slash + 1);
    if (name.rfind("vmlinuz-", 0) != 0) return std::nullopt;
    const std::string config = kernel.substr(0, slash + 1) + "config-" + name.substr(8);
    struct stat seen, st;
    if (::lstat(config.c_str(), &seen) != 0 || !S_ISREG(seen.st_mode)) return std::nullopt;
    Fd fd(::open(config.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != seen.st_dev || st.st_ino != seen.st_ino)
        return std::nullopt;
    std::string text;
    char buf[65536];
    ssize_t n;
    while (text.size() < (1u << 20) && (n = ::read(fd.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    return text;
}

// What a kernel's config says of ACPI. Without such a file: none for one built for the
// guest, else a kernel as Debian builds them, with ACPI.
bool kernel_has_acpi(const std::string& kernel, const std::optional<std::string>& config) {
    if (!config) return !plan::built_for_guest(kernel.substr(kernel.rfind('/') + 1));
    return plan::kernel_config_has_acpi(*config);
}

// What --overlay and --net user ask of the guest kernel, which only its config can say:
// refused, naming the kernel, when it does not say so.
void require_kernel_features(const Policy& p, const std::string& kernel, const std::optional<std::string>& config) {
    auto lacks = [&](const char* option) { return !config || !plan::kernel_config_builds_in(*config, option); };
    if (p.fs.overlay && lacks("CONFIG_FUSE_OPEN_DROPS_NOATIME"))
        throw Error::usage("--vm --overlay: the guest kernel " + kernel +
                           " passes O_NOATIME to the file server, which refuses it for files it does not own (an overlay "
                           "over the share would fail to read them): use the kernel scripts/vm-kernel.sh builds");
    if (p.network.kind == Network::Kind::User && lacks("CONFIG_VIRTIO_NET"))
        throw Error::usage("--vm --net user: the guest kernel " + kernel +
                           " has no virtio network device built in: use the kernel scripts/vm-kernel.sh builds");
    if (p.network.kind == Network::Kind::User && mech::find_passt().empty())
        throw Error::usage("--vm --net user: passt not found (Debian package passt; or set CAISSON_PASST)");
}

// This binary as /init and the modules the guest loads, in order, in a sealed memfd that qemu
// reads through its descriptor. Made for each run, not cached in a file: made piece by piece it
// costs what checking a cached copy cost (a read of its 5 MB), and a file of an ordinary
// user's cache is one a sandbox given ~/.cache could rewrite between that check and qemu's
// open (a guest's init of its own, unconfined in every later guest). Sealed, no one changes it.
Fd guest_initramfs(const std::string& kernel) {
    const mech::initramfs::Image self = mech::initramfs::Image::load("/proc/self/exe");
    std::vector<std::string> order;
    std::map<std::string, std::string> files;
    if (std::string mods = modules_dir(kernel); !mods.empty()) {
        std::map<std::string, std::vector<std::string>> depends;
        for (auto& [stem, path] : mech::initramfs::find_modules(mods + "/kernel")) {
            files[stem] = path;
            depends[stem] = {};
        }
        // Only the modules on the way are read for their dependencies.
        std::function<void(const std::string&)> fill = [&](const std::string& m) {
            auto f = files.find(m);
            if (f == files.end() || !depends[m].empty()) return;
            depends[m] = mech::initramfs::module_depends(f->second);
            for (const auto& d : depends[m]) fill(d);
        };
        for (const auto& m : plan::guest_modules()) fill(m);
        order = plan::module_order(depends, plan::guest_modules());
    }
    std::vector<mech::initramfs::Entry> e = {{"init", S_IFREG | 0755, "", &self}, {"proc", S_IFDIR | 0755, ""},
                                             {"sys", S_IFDIR | 0755, ""},     {"dev", S_IFDIR | 0755, ""},
                                             {"newroot", S_IFDIR | 0755, ""}, {"lib", S_IFDIR | 0755, ""},
                                             {"lib/caisson-vm", S_IFDIR | 0755, ""}};
    std::string list;
    for (const auto& m : order) {
        e.push_back({"lib/caisson-vm/" + m + ".ko", S_IFREG | 0644, mech::initramfs::read_file(files[m], true)});
        list += m + ".ko\n";
    }
    e.push_back({"lib/caisson-vm/modules", S_IFREG | 0644, list});
    return mech::initramfs::sealed(e, "caisson-vm-initramfs");
}

// A socket to the file server that no one else can reach first: a listening socket in a
// private directory, connected to at once, its name removed.
std::pair<Fd, Fd> file_server_sockets() {
    char dir[] = "/tmp/caisson-vm-XXXXXX";
    if (!::mkdtemp(dir)) throw Error(ErrorKind::Setup, "vm: mkdtemp", dir, errno);
    std::string path = std::string(dir) + "/files";
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    Fd listening(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)), client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int err = 0;
    if (!listening || !client || ::bind(listening.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listening.get(), 1) != 0 || ::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        err = errno;
    ::unlink(path.c_str());
    ::rmdir(dir);
    if (err) throw Error(ErrorKind::Setup, "vm: the file server's socket", path, err);
    return {std::move(listening), std::move(client)};
}

// Ends a jail: SIGTERM to its supervisor, which passes it to the program and takes the
// sandbox down; SIGKILL only for one that has not ended in ten seconds.
int stop_jail(pid_t& pid, Fd& pidfd, bool terminate) {
    if (pid < 0) return -1;
    if (terminate) {
        ::kill(pid, SIGTERM);
        pollfd p{pidfd.get(), POLLIN, 0};
        while (::poll(&p, 1, 10000) < 0 && errno == EINTR) {}
        if (!(p.revents & POLLIN)) ::kill(pid, SIGKILL);
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    pid = -1;
    pidfd.reset();
    return st;
}

// A jail's supervisor: a child of this process that runs a policy in a caisson sandbox, with
// the console's pipe as its standard output and error (read only when the guest fails); it
// keeps only the descriptors the policy passes. Stopped when it goes out of scope.
struct Jail {
    pid_t pid = -1;
    Fd pidfd;
    Jail() = default;
    Jail(Jail&& o) noexcept : pid(std::exchange(o.pid, -1)), pidfd(std::move(o.pidfd)) {}
    Jail& operator=(Jail&& o) noexcept {
        if (this != &o) {
            stop(true);
            pid = std::exchange(o.pid, -1);
            pidfd = std::move(o.pidfd);
        }
        return *this;
    }
    ~Jail() { stop(true); }
    int stop(bool terminate) { return stop_jail(pid, pidfd, terminate); }
};

Jail start_jail(Policy p, int out) {
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorKind::Setup, "vm: fork", p.process.argv[0], errno);
    if (pid == 0) {
        int code = 125;
        try {
            // caisson gone (killed): SIGTERM, which the supervisor passes to its program and
            // then takes the sandbox and its cgroup down; SIGKILL would leave the cgroup.
            if (::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0 || ::getppid() != parent) ::_exit(125);
            // A group of its own: a terminal's ^C is for the program in the guest (caisson
            // passes it on), not for qemu.
            if (::setpgid(0, 0) != 0) ::_exit(125);
            // The relay's blocked signals and ignored SIGPIPE are not the jail's.
            sigset_t none;
            sigemptyset(&none);
            ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGPIPE, SIG_DFL);
            Fd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
            if (!null || ::dup2(null.get(), 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) ::_exit(125);
            // Every other descriptor, at any number, in three calls rather than a thousand.
            std::vector<int> keep = p.process.pass_fds;
            std::sort(keep.begin(), keep.end());
            kernel::Failure closing;
            if (!mech::close_fds_except(keep, {}, closing)) ::_exit(125);
            // This process exists for the jail: the SIGTERM above is its program's.
            p.process.forward_signals = true;
            code = Sandbox(std::move(p)).run().shell_status();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "caisson: vm: %s\n", e.what());
        }
        ::_exit(code);
    }
    Jail j;
    j.pid = pid;
    j.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!j.pidfd) {
        int err = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        j.pid = -1;
        throw Error(ErrorKind::Setup, "vm: pidfd_open", p.process.argv[0], err);
    }
    return j;
}

// The names in the host's root, for the file server's Landlock rules.
std::vector<std::string> root_entries() {
    std::vector<std::string> names;
    DIR* d = ::opendir("/");
    if (!d) throw Error(ErrorKind::Setup, "vm: opendir", "/", errno);
    // Directories only, not links (/lib -> usr/lib is served beneath /usr; a link to / or into
    // /proc would open what the rules leave out), nor files (a dangling /initrd.img.old).
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        struct stat st;
        if (n == "." || n == ".." || ::fstatat(::dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        names.push_back(n);
    }
    ::closedir(d);
    return names;
}

// JSON nested deeper than this is not a report (and would exhaust the stack to print).
bool shallow_json(std::string_view text, int max_depth) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') {
            if (++depth > max_depth) return false;
        } else if (c == '}' || c == ']') --depth;
    }
    return true;
}

// What a guest wrote, fit for a terminal: printable ASCII and newlines.
std::string printable(std::string s) {
    for (char& c : s)
        if (c != '\n' && (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)) c = '?';
    return s;
}

void refuse_unsupported(const Policy& p) {
    if (p.process.tty) throw Error::usage("--vm: --tty is not carried into the guest (its streams are relayed as data)");
    if (!p.process.pass_fds.empty()) throw Error::usage("--vm: --pass-fd cannot reach a guest");
    if (p.process.stdio != std::array<int, 3>{0, 1, 2})
        throw Error::usage("--vm: the guest's streams are this process's own 0, 1, 2 (process.stdio)");
    if ((p.network.kind != Network::Kind::Loopback && p.network.kind != Network::Kind::User) ||
        !p.network.allow_hosts.empty() || p.egress.enabled() || !p.namespaces.net || !p.namespaces.net_path.empty())
        throw Error::usage("--vm: the guest's network is --net none or --net user (not veth, host, a namespace's, "
                           "--allow-host or connect rules)");
    if (!p.network.publish.empty()) throw Error::usage("--vm: --publish does not reach into a guest yet");
    if (p.network.kind == Network::Kind::User && ::geteuid() != 0)
        throw Error::usage("--vm --net user: passt is kept off the host's loopback by a cgroup BPF filter, which needs root");
    if (!p.learn_path.empty()) throw Error::usage("--vm: --learn is not carried into the guest");
    if (!p.audit_path.empty()) throw Error::usage("--vm: --audit is not carried into the guest");
    if (!p.fs.device_nodes.empty()) throw Error::usage("--vm: fs.device_nodes are not carried into the guest");
    // --overlay is the guest's own: an overlay in its memory over the share (require_kernel_features).
    if (p.fs.writable_root) throw Error::usage("--vm: the host's files are shared read-only; --writable-root cannot write them");
    if (!p.fs.overlay_upper.empty())
        throw Error::usage("--vm: --overlay-upper would keep the guest's writes on the host; --overlay keeps them in the guest");
}

}  // namespace

std::string vm_policy_text(const Policy& policy) {
    // The command is left out: the guest is given it as an argument of its own, and a long
    // one would not fit in the environment the text travels in (128 KiB a string).
    Policy p = policy;
    p.process.argv.clear();
    return policy_to_json(p);
}

VmSupport vm_support() {
    VmSupport s;
    s.kernel = newest_guest_kernel();
    s.accel = kvm_works() && ::geteuid() == 0 ? "kvm" : "tcg";
    if (::access(kQemu, X_OK) != 0) s.why = std::string(kQemu) + " is missing (apt install qemu-system-x86)";
    else if (virtiofsd_path().empty()) s.why = "virtiofsd is missing (apt install qemu-system-common)";
    else if (s.kernel.empty()) s.why = std::string("no guest kernel under ") + kGuestCache + " (scripts/setup.sh unpacks one) and no --vm-kernel";
    else s.usable = true;
    if (const auto config = s.kernel.empty() ? std::nullopt : kernel_config(s.kernel)) {
        s.overlay = plan::kernel_config_builds_in(*config, "CONFIG_FUSE_OPEN_DROPS_NOATIME");
        s.net_user = plan::kernel_config_builds_in(*config, "CONFIG_VIRTIO_NET") && !mech::find_passt().empty() &&
                     ::geteuid() == 0;
    }
    return s;
}

// One boot: the file server and qemu in their jails, the wire relayed until the guest ends.
struct Attempt {
    bool booted = false, got_result = false;
    double boot_ms = -1;
    std::string result, failed, console;
};

// SIGPIPE ignored while relaying (a reader of the caller's output gone, a guest gone with
// frames still queued: EPIPE, not the death of caisson), and the caller's disposition back.
struct NoSigpipe {
    struct sigaction old {};
    NoSigpipe() {
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        ::sigaction(SIGPIPE, &ign, &old);
    }
    ~NoSigpipe() { ::sigaction(SIGPIPE, &old, nullptr); }
};

// The signals `caisson run` passes on: to the program in the guest once it runs; before
// that, one of them stops the boot. The mask is the caller's again on the way out.
struct SignalMask {
    sigset_t set{}, old{};
    SignalMask() {
        sigemptyset(&set);
        for (int sig : wire::kForwardedSignals) sigaddset(&set, sig);
        ::pthread_sigmask(SIG_BLOCK, &set, &old);
    }
    ~SignalMask() { ::pthread_sigmask(SIG_SETMASK, &old, nullptr); }
};

// How long a guest may take to boot to its init, with or without a time limit; under KVM,
// whose boot takes a second, before it is tried again under TCG.
constexpr auto kBootDeadline = std::chrono::seconds(120);
constexpr auto kKvmBootDeadline = std::chrono::seconds(20);

Attempt boot_once(const Policy& policy, const VmCall& call, plan::Machine m, Clock::time_point started) {
    int wire_pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wire_pair) != 0) throw Error(ErrorKind::Setup, "vm: socketpair", "the wire", errno);
    Fd wire_host(wire_pair[0]), wire_guest(wire_pair[1]);
    auto [files_listen, files_client] = file_server_sockets();
    int console_pipe[2];
    if (::pipe2(console_pipe, O_CLOEXEC) != 0) throw Error(ErrorKind::Setup, "vm: pipe", "the console", errno);
    Fd console_r(console_pipe[0]), console_w(console_pipe[1]);
    m.wire_fd = wire_guest.get();
    m.files_fd = files_client.get();
    // --net user: the guest's network device on a socket to passt (mech/passt.hpp).
    Fd net_host, net_guest;
    if (policy.network.kind == Network::Kind::User) {
        int net_pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, net_pair) != 0)
            throw Error(ErrorKind::Setup, "vm: socketpair", "the network device", errno);
        net_host.reset(net_pair[0]);
        net_guest.reset(net_pair[1]);
        m.net_fd = net_guest.get();
    }

    // Before the jails: on the way out they are stopped first, then the caller's signal
    // mask and SIGPIPE come back (a pending signal then finds no jail left running).
    SignalMask mask;
    NoSigpipe no_sigpipe;
    const char* home = std::getenv("HOME");
    Policy files_policy = plan::file_server_jail(policy, virtiofsd_path(), files_listen.get(), call.cwd, root_entries(),
                                                 home ? home : "", mech::landlock_abi());
    // --workdir: the file server shows the directory the caller stands in, as the launcher
    // binds it without --vm: the bind must find the one the path named now (a process that
    // may write its parent could swap the path for a link to a home meanwhile).
    if (policy.fs.workdir && !call.cwd.empty() && call.cwd != "/") {
        struct stat here{}, named{};
        if (::stat(".", &here) < 0 || ::stat(call.cwd.c_str(), &named) < 0 || here.st_dev != named.st_dev || here.st_ino != named.st_ino)
            throw Error(ErrorKind::Usage, "--workdir: the current directory changed while it was checked", call.cwd, ESTALE);
        for (auto& mnt : files_policy.fs.mounts)
            if (mnt.source == call.cwd) mnt.source_dev = here.st_dev, mnt.source_ino = here.st_ino;
    }
    Jail files = start_jail(files_policy, console_w.get());
    files_listen.reset();
    // passt says why it failed on the console's pipe, which is quoted when a guest fails.
    std::optional<run::GuestNetwork> passt;
    Fd passt_pidfd;
    if (net_host) {
        passt.emplace(net_host.get(), console_w.get());
        net_host.reset();
        passt_pidfd.reset(::fcntl(passt->pidfd(), F_DUPFD_CLOEXEC, 0));
        if (!passt_pidfd) throw Error(ErrorKind::Setup, "vm: dup", "passt's keeper's pidfd", errno);
    }
    Jail qemu = start_jail(plan::qemu_jail(m, plan::qemu_argv(m), m.memory_mb, mech::landlock_abi()), console_w.get());
    wire_guest.reset();
    files_client.reset();
    net_guest.reset();
    console_w.reset();
    Fd sigfd(::signalfd(-1, &mask.set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd) throw Error(ErrorKind::Setup, "vm: signalfd", "", errno);
    wire::Request req{call.args, call.env, call.cwd};
    std::string to_guest = wire::encode(wire::Frame::Request, wire::encode_request(req));
    if (::fcntl(wire_host.get(), F_SETFL, O_NONBLOCK) != 0) throw Error(ErrorKind::Setup, "vm: fcntl", "the wire", errno);
    wire::Reader reader;
    Attempt a;
    std::string& console = a.console;
    bool stdin_open = true, wire_open = true, done_sent = false;
    bool output_closed[2] = {false, false};
    // The guest's caisson keeps the time limit; the host stops a guest that has not ended a
    // minute after it, and one that has not booted in two minutes, whatever it sends.
    const bool limited = policy.process.time_limit_s > 0;
    const double limit_s = std::min(policy.process.time_limit_s, 10.0 * 365 * 86400);  // no overflow for a huge limit
    const auto deadline = started + std::chrono::milliseconds(static_cast<int64_t>((limit_s + 60) * 1000));
    auto done_deadline = Clock::time_point::max();
    // From this attempt's start (the initramfs and a first attempt are not its time).
    const auto boot_deadline = Clock::now() + (m.kvm ? kKvmBootDeadline : kBootDeadline);
    auto term_deadline = Clock::time_point::max();
    for (;;) {
        const auto now = Clock::now();
        if (a.boot_ms < 0 && now >= boot_deadline) {
            a.failed = std::string("the guest did not boot within ") + (m.kvm ? "20 s (KVM)" : "two minutes") + ": stopped";
            break;
        }
        if (limited && now >= deadline) {
            a.failed = "the guest did not end within the time limit and a minute: stopped";
            break;
        }
        if (now >= term_deadline) {
            a.failed = "the guest did not end within ten seconds of SIGTERM: stopped";
            break;
        }
        if (now >= done_deadline) break;  // the status is here; a guest slow to power off is stopped
        auto until = std::min({a.boot_ms < 0 ? boot_deadline : limited ? deadline : Clock::time_point::max(), term_deadline,
                               done_deadline});
        int timeout = -1;
        if (until != Clock::time_point::max()) {
            int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
            timeout = static_cast<int>(std::clamp<int64_t>(ms, 0, 3600 * 1000));
        }
        const bool want_stdin = stdin_open && a.boot_ms >= 0 && to_guest.size() < (1u << 20);
        pollfd p[6] = {{wire_open ? wire_host.get() : -1, static_cast<short>(POLLIN | (to_guest.empty() ? 0 : POLLOUT)), 0},
                       {console_r.get(), POLLIN, 0},
                       {qemu.pidfd.get(), POLLIN, 0},
                       {want_stdin ? 0 : -1, POLLIN, 0},
                       {sigfd.get(), POLLIN, 0},
                       {passt_pidfd ? passt_pidfd.get() : -1, POLLIN, 0}};
        int n = ::poll(p, 6, timeout);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(ErrorKind::Setup, "vm: poll", "the wire", errno);
        char buf[65536];
        if (p[4].revents & POLLIN) {
            signalfd_siginfo si;
            if (::read(sigfd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                if (a.boot_ms < 0) {
                    a.failed = std::string("stopped by SIG") + sigabbrev_np(static_cast<int>(si.ssi_signo)) + " while the guest booted";
                    break;
                }
                uint32_t sig = si.ssi_signo;
                // SIGTERM asks for an end: a guest that has not ended ten seconds later is
                // stopped (one that ignores it must not keep caisson for good).
                if (sig == SIGTERM && term_deadline == Clock::time_point::max())
                    term_deadline = Clock::now() + std::chrono::seconds(10);
                if (to_guest.size() < (2u << 20))
                    to_guest += wire::encode(wire::Frame::Signal, std::string_view(reinterpret_cast<const char*>(&sig), 4));
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = ::read(console_r.get(), buf, sizeof buf);
            if (r > 0) {
                console.append(buf, static_cast<size_t>(r));
                if (console.size() > 16384) console.erase(0, console.size() - 8192);
            } else if (r == 0 || errno != EINTR) {
                console_r.reset();
            }
        }
        if (p[3].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
            ssize_t r = (p[3].revents & POLLNVAL) ? 0 : ::read(0, buf, sizeof buf);
            if (r > 0) {
                to_guest += wire::encode(wire::Frame::Stdin, std::string_view(buf, static_cast<size_t>(r)));
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                to_guest += wire::encode(wire::Frame::StdinEnd, "");
                stdin_open = false;
            }
        }
        if (wire_open && !to_guest.empty() && (p[0].revents & POLLOUT)) {
            ssize_t w = ::send(wire_host.get(), to_guest.data(), to_guest.size(), MSG_NOSIGNAL);
            if (w > 0) to_guest.erase(0, static_cast<size_t>(w));
            else if (w < 0 && errno != EAGAIN && errno != EINTR) to_guest.clear();
        }
        if (wire_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t r = ::read(wire_host.get(), buf, sizeof buf);
            if (r > 0) reader.feed(buf, static_cast<size_t>(r));
            else if (r == 0 || (errno != EINTR && errno != EAGAIN)) wire_open = false;  // qemu's end is closed
            try {
                while (auto f = reader.next()) {
                    switch (f->first) {
                        case wire::Frame::Booted:
                            if (a.boot_ms < 0) a.boot_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
                            break;
                        case wire::Frame::Stdout:
                        case wire::Frame::Stderr: {
                            const int fd = f->first == wire::Frame::Stdout ? 1 : 2;
                            bool& closed = output_closed[fd - 1];
                            for (size_t at = 0; !closed && at < f->second.size();) {
                                ssize_t w = ::write(fd, f->second.data() + at, f->second.size() - at);
                                if (w < 0 && errno == EINTR) continue;
                                if (w < 0 && errno == EAGAIN) {  // a non-blocking stdout: wait for room
                                    pollfd o{fd, POLLOUT, 0};
                                    ::poll(&o, 1, 1000);
                                    continue;
                                }
                                if (w <= 0) {
                                    // The caller's reader is gone (`| head -1`): the program's
                                    // next write meets a closed pipe in the guest, as here.
                                    closed = true;
                                    to_guest += wire::encode(fd == 1 ? wire::Frame::StdoutClosed : wire::Frame::StderrClosed, "");
                                    break;
                                }
                                at += static_cast<size_t>(w);
                            }
                            break;
                        }
                        case wire::Frame::Result:
                        case wire::Frame::Failed:
                            if (done_sent) break;  // said once; a guest that says more is not heard
                            if (f->first == wire::Frame::Result) {
                                a.result = f->second;
                                a.got_result = true;
                            } else {
                                a.failed = "the guest could not run the program: " + printable(f->second.substr(0, 2000));
                            }
                            to_guest += wire::encode(wire::Frame::Done, "");
                            done_sent = true;
                            done_deadline = Clock::now() + std::chrono::seconds(10);
                            break;
                        default:
                            break;
                    }
                }
            } catch (const Error& e) {
                a.failed = std::string("the guest broke the wire: ") + e.what();
                break;
            }
        }
        if (p[2].revents & POLLIN) {
            qemu.stop(false);
            break;
        }
        // A guest whose network ended under it is not run on: its program would meet a
        // network gone dead, not the one asked for.
        if (p[5].revents & POLLIN) {
            if (!a.got_result) {
                a.failed = "passt, which carried the guest's network, ended";
                break;
            }
            passt_pidfd.reset();  // ended after the status: nothing more to watch
        }
    }
    qemu.stop(true);
    files.stop(true);
    a.booted = a.boot_ms >= 0;
    return a;
}

VmResult run_in_vm(const Policy& policy, const VmCall& call) {
    refuse_unsupported(policy);
    // What the host would refuse, refused here: the guest's caisson is root in its guest and
    // would allow an ordinary caller what the host does not (--map-host-root, --host-uid).
    run::preflight(policy, ::geteuid() == 0);
    if (policy.namespaces.user) (void)mech::decide_id_maps(policy.identity, ::geteuid(), ::getegid());
    const auto started = Clock::now();
    VmSupport support = vm_support();
    const std::string kernel = policy.vm.kernel.empty() ? support.kernel : policy.vm.kernel;
    if (::access(kQemu, X_OK) != 0 || virtiofsd_path().empty() || kernel.empty())
        throw Error::usage("--vm: " + (support.why.empty() ? std::string("no guest kernel") : support.why));
    if (::access(kernel.c_str(), R_OK) != 0) throw Error(ErrorKind::Usage, "--vm-kernel", kernel, errno);

    plan::Machine m;
    m.qemu = kQemu;
    m.kernel = kernel;
    const Fd initramfs_fd = guest_initramfs(kernel);
    m.initramfs_fd = initramfs_fd.get();
    struct stat initramfs_st {};
    if (::fstat(initramfs_fd.get(), &initramfs_st) != 0) throw Error(ErrorKind::Setup, "vm: fstat", "the initramfs", errno);
    const uint64_t initramfs_bytes = static_cast<uint64_t>(initramfs_st.st_size);
    const std::optional<std::string> config = kernel_config(kernel);
    require_kernel_features(policy, kernel, config);
    m.acpi = kernel_has_acpi(kernel, config);
    m.memory_mb = plan::guest_memory_mb(policy);
    m.cpus = plan::guest_cpus(policy);
    m.cpu_limit = policy.resources.cpus;
    // KVM where /dev/kvm answers (qemu's jail gets the node in its /dev); TCG otherwise. As
    // root only: the jail's device rule is a cgroup BPF program, which an ordinary user's
    // jail cannot load (every run would fail under KVM first).
    m.kvm = support.accel == "kvm" && ::geteuid() == 0;
    // --rootfs naming the host's root another way ("//", a link to /) would widen the file
    // server's view to all of it.
    if (policy.fs.rootfs != "/") {
        char real[PATH_MAX];
        if (!::realpath(policy.fs.rootfs.c_str(), real)) throw Error(ErrorKind::Usage, "--rootfs", policy.fs.rootfs, errno);
        if (std::string_view(real) == "/") throw Error::usage("--vm: --rootfs " + policy.fs.rootfs + " is the host's root: leave it out");
    }
    // The guest gets the environment the policy is built from and the program's base takes
    // from the caller, not the caller's secrets (unless --keep-env gives the program them all);
    // and the digest of the policy built here, which the guest's caisson must build too.
    VmCall sent = call;
    if (!policy.process.keep_env) {
        sent.env.clear();
        for (const auto& e : call.env) {
            std::string name = e.substr(0, e.find('='));
            if (name == "HOME" || name == "USER" || name == "LOGNAME" || name == "TERM" || name == "LANG" ||
                name.rfind("LC_", 0) == 0 || name.rfind("XDG_", 0) == 0 || name == "GNUPGHOME" || name == "CAISSON_PROFILE_PATH")
                sent.env.push_back(e);
        }
    }
    std::erase_if(sent.env, [](const std::string& e) { return e.rfind("CAISSON_VM_", 0) == 0; });
    const std::string policy_text = vm_policy_text(policy);
    if (policy_text.size() > kMaxPolicyText)
        throw Error::usage("--vm: the policy is too large to carry to the guest (" + std::to_string(policy_text.size() / 1024) +
                           " KiB as JSON; at most " + std::to_string(kMaxPolicyText / 1024) + ")");
    sent.env.push_back(std::string(kPolicyVar) + "=" + policy_text);
    sent.env.push_back("CAISSON_VM_CALLER_UID=" + std::to_string(::geteuid()));
    Attempt a = boot_once(policy, sent, m, started);
    // A KVM guest that never booted (a host whose KVM cannot run this guest: some nested ones
    // refuse an MSR qemu sets; a /dev/kvm that nobody may open) boots again under TCG, before
    // any of the caller's input was read; the report says why. Not one stopped by a signal.
    std::string kvm_failed;
    sigset_t pending;
    ::sigemptyset(&pending);
    ::sigpending(&pending);
    const bool asked_to_stop = ::sigismember(&pending, SIGTERM) == 1 || ::sigismember(&pending, SIGINT) == 1 ||
                               ::sigismember(&pending, SIGHUP) == 1;
    if (m.kvm && a.boot_ms < 0 && !a.got_result && a.failed.rfind("stopped by SIG", 0) != 0 && !asked_to_stop) {
        std::string tail = printable(a.console.size() > 600 ? a.console.substr(a.console.size() - 600) : a.console);
        kvm_failed = (a.failed.empty() ? std::string("the guest did not boot") : a.failed) + (tail.empty() ? "" : ": " + tail);
        m.kvm = false;
        a = boot_once(policy, sent, m, Clock::now());
    }
    std::string& console = a.console;
    std::string& result = a.result;
    std::string& failed = a.failed;
    const bool got_result = a.got_result;
    const double boot_ms = a.boot_ms;
    if (!got_result) {
        // The console's last lines say why: a panic, an init that failed, qemu's own error.
        std::string tail = printable(console.size() > 1500 ? console.substr(console.size() - 1500) : console);
        if (failed.empty())
            failed = tail.find("Kernel panic") != std::string::npos ? "the guest kernel panicked"
                                                                  : "the guest ended without the program's status";
        throw Error(ErrorKind::Setup, "vm", failed + (tail.empty() ? "" : "; its console's last lines:\n" + tail), 0);
    }
    VmResult out;
    size_t nl = result.find('\n');
    std::string head = result.substr(0, nl);
    std::string report = nl == std::string::npos ? "" : result.substr(nl + 1);
    // What the guest says is the guest kernel's word: only a status a process can have.
    int value = -1;
    const std::string number = head.substr(head.find(' ') + 1);
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size()) value = -1;
    if ((head.rfind("exit ", 0) != 0 && head.rfind("signal ", 0) != 0) || value < 0 || value > 255 ||
        (head.rfind("signal ", 0) == 0 && (value < 1 || value > 64)))
        throw Error(ErrorKind::Setup, "vm", "the guest sent a status no program can have: " + head.substr(0, 40), EPROTO);
    if (head.rfind("signal ", 0) == 0) {
        out.outcome.exited = false;
        out.outcome.term_signal = value;
    } else {
        out.outcome.exited = true;
        out.outcome.exit_code = value;
    }
    nlohmann::json j = nlohmann::json::object();
    if (!report.empty() && shallow_json(report, 32)) {
        j = nlohmann::json::parse(report, nullptr, false);
        if (j.is_discarded() || !j.is_object()) j = nlohmann::json::object();
    }
    // The guest's caisson reports the program; its status is the guest caisson's own exit
    // code (the program's, or 128 + its signal).
    if (j.contains("exited") && j["exited"].is_boolean()) {
        out.outcome.exited = j["exited"].get<bool>();
        if (out.outcome.exited && j["exit_code"].is_number_integer()) out.outcome.exit_code = j["exit_code"].get<int>() & 0xff;
        if (!out.outcome.exited && j["signal"].is_number_integer()) out.outcome.term_signal = std::clamp(j["signal"].get<int>(), 1, 64);
        if (j["time_limit_fired"].is_boolean()) out.outcome.time_limit_fired = j["time_limit_fired"].get<bool>();
    }
    out.outcome.wall_s = std::chrono::duration<double>(Clock::now() - started).count();
    j["vm"] = {{"accel", m.kvm ? "kvm" : "tcg"},
               {"kvm_on_host", support.accel == "kvm"},
               {"machine", "microvm"},
               {"kernel", kernel},
               {"initramfs_bytes", initramfs_bytes},
               {"memory_mb", m.memory_mb},
               {"cpus", m.cpus},
               {"boot_ms", boot_ms},
               {"wall_s", out.outcome.wall_s},
               {"jails", {"qemu: namespaces, nobody, no capabilities, seccomp default + qemu -sandbox, landlock ABI " +
                              std::to_string(mech::landlock_abi()),
                          "virtiofsd: namespaces, a one-id user namespace, the program's view, Landlock read-only, "
                          "seccomp vm-file-server"}}};
    if (!kvm_failed.empty()) j["vm"]["kvm_failed"] = kvm_failed;  // and TCG was used
    out.report_json = j.dump();
    return out;
}

}  // namespace caisson
