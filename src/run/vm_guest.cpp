// caisson as the guest's init (PID 1 of the initramfs that run/vm_host builds). It loads
// the modules for virtio, finds the wire's port, takes the request, mounts the host's files
// (virtiofs, read-only) as the new root, and starts the guest's own `caisson run` with the
// caller's arguments there. It relays the standard streams as frames,
// sends the program's status and the report, and powers the guest off.
#include "policy/vm_plan.hpp"
#include "run/vm_wire.hpp"
#include "kernel/syscalls.hpp"

#include <caisson/error.hpp>
#include <caisson/fd.hpp>
#include <caisson/vm.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <string>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace caisson {

namespace {

namespace wire = run::vm_wire;
namespace plan = policy::vm;

constexpr const char* kReportFdVar = "CAISSON_VM_REPORT_FD";
constexpr int kReportFd = 3;

[[noreturn]] void power_off() {
    ::sync();
    // A kernel without ACPI (scripts/vm-kernel.sh's, on microvm's acpi=off) cannot power the
    // machine off and would halt; a reset (reboot=t: a triple fault) ends qemu, which runs
    // with -no-reboot.
    ::reboot(::access("/sys/firmware/acpi", F_OK) == 0 ? RB_POWER_OFF : RB_AUTOBOOT);
    for (;;) ::pause();  // reboot does not return to PID 1 on success
}

void write_all(int fd, const std::string& s) {
    for (size_t at = 0; at < s.size();) {
        ssize_t n = ::write(fd, s.data() + at, s.size() - at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Error(ErrorKind::Setup, "vm guest: write", "the wire", n < 0 ? errno : EIO);
        at += static_cast<size_t>(n);
    }
}

void must_mount(const char* src, const char* dst, const char* type, unsigned long flags, const char* data) {
    ::mkdir(dst, 0755);  // the share's own directories stay as they are (read-only: EROFS)
    if (::mount(src, dst, type, flags, data) != 0)
        throw Error(ErrorKind::Setup, std::string("vm guest: mount ") + type, dst, errno);
}

void load_modules() {
    // The builder lists them in dependency order, one file name per line.
    std::string order;
    {
        Fd fd(::open("/lib/caisson-vm/modules", O_RDONLY | O_CLOEXEC));
        if (!fd) return;  // a kernel with everything built in
        char buf[4096];
        ssize_t n;
        while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) order.append(buf, static_cast<size_t>(n));
    }
    for (size_t at = 0; at < order.size();) {
        size_t nl = order.find('\n', at);
        if (nl == std::string::npos) nl = order.size();
        std::string name = order.substr(at, nl - at);
        at = nl + 1;
        if (name.empty()) continue;
        std::string path = "/lib/caisson-vm/" + name;
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw Error(ErrorKind::Setup, "vm guest: open module", path, errno);
        if (::syscall(SYS_finit_module, fd.get(), "", 0) != 0 && errno != EEXIST)
            throw Error(ErrorKind::Setup, "vm guest: load module", name, errno);
    }
}

// The wire's port: the virtio-serial port named kPortName. Its device appears once the
// console driver has probed, which may be after the module load returned.
Fd open_port() {
    for (int tries = 0; tries < 5000; ++tries) {
        if (DIR* d = ::opendir("/sys/class/virtio-ports")) {
            while (dirent* e = ::readdir(d)) {
                if (e->d_name[0] == '.') continue;
                std::string base = std::string("/sys/class/virtio-ports/") + e->d_name;
                Fd nf(::open((base + "/name").c_str(), O_RDONLY | O_CLOEXEC));
                char name[64] = {};
                if (!nf || ::read(nf.get(), name, sizeof name - 1) <= 0) continue;
                if (std::string(name).rfind(plan::kPortName, 0) != 0) continue;
                std::string dev = std::string("/dev/") + e->d_name;
                ::closedir(d);
                Fd port(::open(dev.c_str(), O_RDWR | O_CLOEXEC));
                if (!port) throw Error(ErrorKind::Setup, "vm guest: open", dev, errno);
                return port;
            }
            ::closedir(d);
        }
        timespec ms{0, 1000000};
        ::nanosleep(&ms, nullptr);
    }
    throw Error(ErrorKind::Setup, "vm guest: find the port", plan::kPortName, ENODEV);
}

// Reads frames until one of `type` arrives.
std::string read_frame(int port, wire::Reader& reader, wire::Frame type) {
    for (;;) {
        if (auto f = reader.next()) {
            if (f->first == type) return f->second;
            continue;
        }
        char buf[65536];
        ssize_t n = ::read(port, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Error(ErrorKind::Setup, "vm guest: read", "the wire", n < 0 ? errno : EPIPE);
        reader.feed(buf, static_cast<size_t>(n));
    }
}

// The new root: the share, read-only, as the file server shows it (the program's view of the
// host, with --bind sources and --rootfs at their own paths, /tmp's among them: no tmpfs of
// the guest's may cover them). The guest's caisson gives the program its own /tmp as it
// would on the host; everything written there vanishes with the guest. Not an overlay over
// the share: overlayfs opens the files beneath with O_NOATIME for a mounter that may, and the
// file server, which is not their owner on the host, is refused that (EPERM).
void make_root() {
    if (::mkdir("/newroot", 0755) != 0 && errno != EEXIST) throw Error(ErrorKind::Setup, "vm guest: mkdir", "/newroot", errno);
    if (::mount(plan::kRootTag, "/newroot", "virtiofs", MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
        throw Error(ErrorKind::Setup, "vm guest: mount virtiofs", "/newroot", errno);
    must_mount("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    must_mount("sysfs", "/newroot/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    must_mount("devtmpfs", "/newroot/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    must_mount("devpts", "/newroot/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
    must_mount("cgroup2", "/newroot/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    // Every controller for the guest's caisson, which makes the sandbox's group beneath.
    Fd ctl(::open("/newroot/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC));
    for (const char* c : {"+cpu", "+memory", "+pids", "+io", "+cpuset"})
        if (ctl) (void)!::write(ctl.get(), c, std::strlen(c));
}

struct Pipe {
    Fd r, w;
    Pipe() {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw Error(ErrorKind::Setup, "vm guest: pipe", "", errno);
        r.reset(p[0]);
        w.reset(p[1]);
    }
};

// The guest's caisson: this binary (held open from the initramfs, which the new root hides),
// `caisson run` with the caller's arguments, its streams and the report's descriptor.
pid_t start_caisson(int self, const wire::Request& req, Pipe& in, Pipe& out, Pipe& err, Pipe& report) {
    std::vector<std::string> args = {"caisson", "run"};
    args.insert(args.end(), req.args.begin(), req.args.end());
    std::vector<std::string> env = req.env;
    env.push_back(std::string(kReportFdVar) + "=" + std::to_string(kReportFd));
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorKind::Setup, "vm guest: fork", "caisson", errno);
    if (pid == 0) {
        // The binary's descriptor first out of the way of the four below (close-on-exec: the
        // exec itself needs it, the program never); dup2 clears close-on-exec on the copies.
        int exe = ::fcntl(self, F_DUPFD_CLOEXEC, 10);
        if (exe < 0 || ::dup2(in.r.get(), 0) < 0 || ::dup2(out.w.get(), 1) < 0 || ::dup2(err.w.get(), 2) < 0 ||
            ::dup2(report.w.get(), kReportFd) < 0)
            ::_exit(125);
        ::setsid();
        // The caller's directory, where relative paths of the arguments resolve as on the
        // host. One the guest does not see (in a hidden home, in /tmp) leaves "/": whatever a
        // relative path then names is still the program's own view, and a file that decides
        // the policy (a profile, a seccomp policy) read from elsewhere makes another policy,
        // which the digest refuses.
        // Resolved inside the guest's root, and entered by descriptor.
        int dir = req.cwd.empty() ? -1
                                  : kernel::openat2(AT_FDCWD, req.cwd.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC,
                                                    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (dir < 0) dir = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0 || ::fchdir(dir) != 0) ::_exit(125);
        ::close(dir);
        ::syscall(SYS_execveat, exe, "", argv.data(), envp.data(), AT_EMPTY_PATH);
        std::fprintf(stderr, "caisson: vm guest: exec caisson: %s\n", std::strerror(errno));
        ::_exit(126);
    }
    return pid;
}

// Relays until the guest's caisson has ended and said everything; returns the Result payload.
std::string relay(int port, wire::Reader& reader, pid_t child, Pipe& in, Pipe& out, Pipe& err, Pipe& report) {
    in.r.reset();
    // The program's input is written only as far as its pipe takes it: a blocking write of
    // more would wait for a program that waits for us to take its output.
    if (::fcntl(in.w.get(), F_SETFL, O_NONBLOCK) != 0) throw Error(ErrorKind::Setup, "vm guest: fcntl", "stdin", errno);
    out.w.reset();
    err.w.reset();
    report.w.reset();
    std::string to_stdin, report_json;
    bool stdin_end = false;
    int status = -1;
    // Frames may have come with the request, in the same read: take them before waiting.
    auto take_stdin = [&] {
        while (auto f = reader.next()) {
            // Input the program no longer takes is dropped, not held.
            if (f->first == wire::Frame::Stdin && in.w) to_stdin += f->second;
            // The caller's reader of stdout or stderr is gone: the program's write meets a
            // closed pipe, as it would on the host.
            if (f->first == wire::Frame::StdoutClosed) out.r.reset();
            if (f->first == wire::Frame::StderrClosed) err.r.reset();
            if (f->first == wire::Frame::StdinEnd) stdin_end = true;
            if (f->first == wire::Frame::Signal && f->second.size() == 4 && status == -1) {
                int sig = 0;
                std::memcpy(&sig, f->second.data(), 4);
                // The guest's caisson passes it to the program, as it does on a host.
                for (int allowed : wire::kForwardedSignals)
                    if (sig == allowed) ::kill(child, sig);
            }
        }
    };
    take_stdin();
    Fd child_fd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
    if (!child_fd) throw Error(ErrorKind::Setup, "vm guest: pidfd_open", "caisson", errno);
    for (;;) {
        // Orphans of the guest's caisson come to PID 1: reap them, and the caisson itself.
        for (int st; ;) {
            pid_t w = ::waitpid(-1, &st, WNOHANG);
            if (w <= 0) break;
            if (w == child) {
                status = st;
                child_fd.reset();
            }
        }
        if (in.w && stdin_end && to_stdin.empty()) in.w.reset();
        if (status != -1 && !out.r && !err.r && !report.r) break;
        // The program's unread input is held up to 1 MiB; beyond that the port waits.
        pollfd p[6] = {{to_stdin.size() < (1u << 20) ? port : -1, POLLIN, 0}, {out.r.get(), POLLIN, 0}, {err.r.get(), POLLIN, 0}, {report.r.get(), POLLIN, 0},
                       {in.w.get(), static_cast<short>(to_stdin.empty() ? 0 : POLLOUT), 0}, {child_fd.get(), POLLIN, 0}};
        int n = ::poll(p, 6, -1);
        if (n < 0 && errno != EINTR) throw Error(ErrorKind::Setup, "vm guest: poll", "the wire", errno);
        if (n <= 0) continue;
        char buf[65536];
        if (p[0].revents & POLLIN) {
            ssize_t r = ::read(port, buf, sizeof buf);
            if (r > 0) reader.feed(buf, static_cast<size_t>(r));
        }
        take_stdin();
        if (in.w && (p[4].revents & (POLLERR | POLLHUP))) {  // the program closed its input
            in.w.reset();
            to_stdin.clear();
        }
        if (in.w && !to_stdin.empty() && (p[4].revents & POLLOUT)) {
            ssize_t w = ::write(in.w.get(), to_stdin.data(), to_stdin.size());
            if (w > 0) to_stdin.erase(0, static_cast<size_t>(w));
            else if (w < 0 && errno == EPIPE) { to_stdin.clear(); in.w.reset(); }
        }
        struct { Fd* fd; wire::Frame type; int idx; } outs[] = {{&out.r, wire::Frame::Stdout, 1}, {&err.r, wire::Frame::Stderr, 2},
                                                               {&report.r, wire::Frame::Result, 3}};
        for (auto& o : outs) {
            if (!*o.fd || !(p[o.idx].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = ::read(o.fd->get(), buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EINTR) continue;
                o.fd->reset();
                continue;
            }
            if (o.type == wire::Frame::Result) report_json.append(buf, static_cast<size_t>(r));
            else write_all(port, wire::encode(o.type, std::string_view(buf, static_cast<size_t>(r))));
        }
    }
    std::string head = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                           : "exit " + std::to_string(WEXITSTATUS(status));
    if (report_json.size() > wire::kMaxPayload - 64) report_json.clear();
    return head + "\n" + report_json;
}

}  // namespace

bool in_vm_guest() {
    // Started by the guest's init (PID 1), with the report's descriptor named.
    if (!std::getenv(kReportFdVar) || ::getppid() != 1) return false;
    Fd fd(::open("/proc/cmdline", O_RDONLY | O_CLOEXEC));
    char buf[4096] = {};
    if (!fd || ::read(fd.get(), buf, sizeof buf - 1) <= 0) return false;
    // A word of its own on the kernel's command line, which only caisson's guest carries.
    std::string line = std::string(" ") + buf;
    for (char& c : line) if (c == '\n') c = ' ';
    return line.find(std::string(" ") + plan::kGuestMarker + " ") != std::string::npos;
}

int vm_guest_report_fd() { return in_vm_guest() ? kReportFd : -1; }

std::optional<uid_t> vm_guest_caller_uid() {
    if (!in_vm_guest()) return std::nullopt;
    const char* v = std::getenv("CAISSON_VM_CALLER_UID");
    if (!v || !*v) return std::nullopt;
    char* end = nullptr;
    unsigned long uid = std::strtoul(v, &end, 10);
    if (*end || uid > 0xfffffffeul) return std::nullopt;
    return static_cast<uid_t>(uid);
}

namespace {

// The first path where two JSON values differ ("" for the whole value), depth-first.
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b, const std::string& path) {
    if (a.type() != b.type()) return path.empty() ? "." : path;
    if (a.is_object()) {
        for (auto it = a.begin(); it != a.end(); ++it) {
            if (!b.contains(it.key())) return path + "." + it.key();
            if (std::string d = first_difference(it.value(), b.at(it.key()), path + "." + it.key()); !d.empty()) return d;
        }
        for (auto it = b.begin(); it != b.end(); ++it)
            if (!a.contains(it.key())) return path + "." + it.key();
        return "";
    }
    if (a.is_array()) {
        for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
            if (std::string d = first_difference(a[i], b[i], path + "[" + std::to_string(i) + "]"); !d.empty()) return d;
        return a.size() == b.size() ? "" : path + "[" + std::to_string(std::min(a.size(), b.size())) + "]";
    }
    return a == b ? "" : (path.empty() ? "." : path);
}

}  // namespace

std::string vm_guest_policy_difference(const Policy& policy) {
    const char* want = std::getenv("CAISSON_VM_POLICY");
    const std::string host = want ? want : "";
    // Read once, and not passed on: with --keep-env it would be in the program's environment.
    ::unsetenv("CAISSON_VM_POLICY");
    const std::string here = vm_policy_text(policy);
    if (want && here == host) return "";
    if (!want) return "(the host sent none)";
    // The comparison is of the whole text; the path only says where to look.
    const auto a = nlohmann::json::parse(host, nullptr, false), b = nlohmann::json::parse(here, nullptr, false);
    std::string d = a.is_discarded() || b.is_discarded() ? "" : first_difference(a, b, "");
    return d.empty() ? "(the text)" : d;
}

void vm_guest_main() {
    Fd port;
    try {
        must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
        must_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
        must_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        load_modules();
        port = open_port();
        write_all(port.get(), wire::encode(wire::Frame::Booted, ""));
        wire::Reader reader;
        wire::Request req = wire::decode_request(read_frame(port.get(), reader, wire::Frame::Request));
        make_root();
        Fd self(::open("/init", O_PATH | O_CLOEXEC));
        if (!self) throw Error(ErrorKind::Setup, "vm guest: open", "/init", errno);
        // switch_root's steps, the directory entered by descriptor: the share becomes "/".
        Fd newroot(::open("/newroot", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!newroot || ::fchdir(newroot.get()) != 0 || ::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0 ||
            ::chroot(".") != 0)
            throw Error(ErrorKind::Setup, "vm guest: switch root", "/newroot", errno);
        Pipe in, out, err, report;
        pid_t child = start_caisson(self.get(), req, in, out, err, report);
        std::string result = relay(port.get(), reader, child, in, out, err, report);
        write_all(port.get(), wire::encode(wire::Frame::Result, result));
        // Power off only once the host has the result: what is still in the port's queue
        // would be lost with the guest.
        read_frame(port.get(), reader, wire::Frame::Done);
    } catch (const std::exception& e) {
        std::string msg = e.what();
        if (port) {
            try {
                write_all(port.get(), wire::encode(wire::Frame::Failed, msg));
                wire::Reader r;
                read_frame(port.get(), r, wire::Frame::Done);
            } catch (...) {
            }
        }
        std::fprintf(stderr, "caisson: %s\n", msg.c_str());
    }
    power_off();
}

}  // namespace caisson
