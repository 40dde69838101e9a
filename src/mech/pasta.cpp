#include "mech/pasta.hpp"

#include "mech/cgroup_detect.hpp"
#include "mech/companion.hpp"
#include "mech/ephemeral_binds.hpp"
#include "policy/cgroup_plan.hpp"
#include "mech/tap.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string.h>
#include <cstdlib>

namespace caisson::mech {
namespace {

constexpr int kReadyTimeoutMs = 10000;

// The temporary directory holding the readiness FIFO, removed as soon as pasta has said it
// is ready (or failed), so that a supervisor killed later leaves nothing in /tmp.
class FifoDir {
public:
    FifoDir() {
        char tmpl[] = "/tmp/caisson-pasta-XXXXXX";
        if (!::mkdtemp(tmpl)) throw Error(ErrorKind::Setup, "mkdtemp", "/tmp/caisson-pasta-XXXXXX", errno);
        dir_ = tmpl;
        fifo_ = dir_ + "/ready";
        if (::mkfifo(fifo_.c_str(), 0600) < 0) {
            int err = errno;
            remove();
            throw Error(ErrorKind::Setup, "mkfifo", fifo_, err);
        }
    }
    ~FifoDir() { remove(); }
    void remove() {
        if (dir_.empty()) return;
        ::unlink(fifo_.c_str());
        ::rmdir(dir_.c_str());
        dir_.clear();
    }
    const std::string& fifo() const { return fifo_; }

private:
    std::string dir_, fifo_;
};

std::string ports(const std::vector<PortMapping>& publish, bool udp) {
    std::string spec;
    for (const auto& p : publish)
        if (p.udp == udp) spec += (spec.empty() ? "" : ",") + std::to_string(p.host_port) + ":" + std::to_string(p.sandbox_port);
    return spec.empty() ? "none" : spec;
}

}  // namespace

bool cap_tcp_wmem(const long in[3], long cap, long out[3]) {
    out[2] = std::min(in[2], cap);
    out[1] = std::min(in[1], out[2]);
    out[0] = std::min(in[0], out[1]);
    return out[0] != in[0] || out[1] != in[1] || out[2] != in[2];
}

std::string capped_tcp_wmem(const std::string& current, long cap) {
    long v[3], c[3];
    char tail;
    if (std::sscanf(current.c_str(), "%ld %ld %ld %c", &v[0], &v[1], &v[2], &tail) != 3 || !cap_tcp_wmem(v, cap, c)) return "";
    return std::to_string(c[0]) + " " + std::to_string(c[1]) + " " + std::to_string(c[2]);
}

bool cap_own_tcp_wmem(int proc, long cap, kernel::Failure& f) {
    constexpr const char* kFile = "sys/net/ipv4/tcp_wmem";
    kernel::Fd fd(kernel::openat2(proc, kFile, O_RDWR | O_CLOEXEC,
                                  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV));
    if (!fd) return f.set("open", "/proc/sys/net/ipv4/tcp_wmem");
    char buf[128];
    ssize_t n = ::pread(fd.get(), buf, sizeof(buf) - 1, 0);
    if (n < 0) return f.set("read", "/proc/sys/net/ipv4/tcp_wmem");
    buf[n] = '\0';
    long v[3], c[3];
    if (std::sscanf(buf, "%ld %ld %ld", &v[0], &v[1], &v[2]) != 3) return f.set("parse", "/proc/sys/net/ipv4/tcp_wmem", EINVAL);
    if (!cap_tcp_wmem(v, cap, c)) return true;
    char out[96];
    int len = std::snprintf(out, sizeof(out), "%ld %ld %ld", c[0], c[1], c[2]);
    ssize_t w = ::pwrite(fd.get(), out, static_cast<size_t>(len), 0);
    if (w != len) return f.set("write", "/proc/sys/net/ipv4/tcp_wmem", w < 0 ? errno : EIO);
    return true;
}

std::string find_program(const char* name, const char* variable) {
    if (const char* env = std::getenv(variable)) return ::access(env, X_OK) == 0 ? env : "";
    const char* path = std::getenv("PATH");
    std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    size_t start = 0;
    while (start <= dirs.size()) {
        size_t colon = dirs.find(':', start);
        std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    return "";
}

std::string find_pasta() { return find_program("pasta", "CAISSON_PASTA"); }

std::string tun_unusable(uid_t caller) {
    constexpr const char* kTun = "/dev/net/tun";
    struct stat st{};
    if (::stat(kTun, &st) < 0)
        return std::string("--net user: pasta needs ") + kTun + ", which this host lacks (" + strerrorname_np(errno) +
               "); load the tun module (modprobe tun) or use --net none|veth";
    if (caller == 0 || ::access(kTun, R_OK | W_OK) == 0) return "";
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return std::string("--net user: pasta needs ") + kTun + ", which is mode " + mode + " owned by uid " +
           std::to_string(st.st_uid) + " here, so uid " + std::to_string(caller) + " cannot open it (" +
           strerrorname_np(errno) + "); make it usable with `chmod 0666 " + kTun + "` (Debian's default) or run as root";
}

std::vector<std::string> pasta_argv(const std::string& pasta, const Network& net, bool as_root, const std::string& ready_fifo) {
    // The sandbox's interface is eth0, as under --net veth: by default pasta would name it
    // after the host's interface of the default route, which is the host's to know.
    // --no-netns-quit: caisson ends pasta itself; pasta's watch for the namespace's file
    // going away (inotify on the path's directory) is of no use here and cost each run's end
    // 12 to 20 ms: releasing an inotify descriptor waits for an SRCU grace period (perf:
    // pasta off the CPU in inotify_release, fsnotify_destroy_group, __flush_work).
    // --ns-mac-addr: the sandbox's address on the tap, set by pasta and so known to it from
    // the start. Otherwise pasta learns it from the sandbox's first frame, and until then
    // addresses frames to 00:00:00:00:00:00, which the sandbox drops: a connection published
    // to it from outside before it has said anything was lost (pasta's capture), and pasta
    // spun on it. A fixed, locally administered unicast address: the segment is the
    // sandbox's and pasta's alone.
    std::vector<std::string> a{pasta, "--foreground", "--quiet", "--config-net", "--no-map-gw", "--ns-ifname", kNsIfname,
                               "--ns-mac-addr", kNsMac,
                               "--tcp-ports", ports(net.publish, false), "--udp-ports", ports(net.publish, true),
                               "--tcp-ns", "none", "--udp-ns", "none", "--no-netns-quit",
                               "--netns", "/proc/self/fd/" + std::to_string(kPastaNetnsFd), "--pid", ready_fifo};
    // As root, pasta stays root (it would drop to nobody first, with no way left to
    // /dev/net/tun where that device is root's alone) and enters the network namespace
    // with its capabilities; an ordinary user's pasta enters the sandbox's user namespace,
    // which it owns.
    if (as_root) a.insert(a.begin() + 1, {"--runas", "0"});
    else a.insert(a.end() - 2, {"--userns", "/proc/self/fd/" + std::to_string(kPastaUsernsFd)});
    return a;
}

PastaLink::PastaLink(const Network& net, pid_t sandbox_pid, bool as_root) {
    std::string pasta = find_pasta();
    if (pasta.empty()) throw Error::usage("--net user: pasta not found (Debian package passt; or set CAISSON_PASTA)");
    FifoDir fifo;
    // Opened first, so that pasta's open for writing does not wait for a reader.
    kernel::Fd ready(::open(fifo.fifo().c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!ready) throw Error(ErrorKind::Setup, "open", fifo.fifo(), errno);
    int err_pipe[2];
    if (::pipe2(err_pipe, O_CLOEXEC) < 0) throw Error(ErrorKind::Setup, "pipe", "pasta", errno);
    kernel::Fd err_r(err_pipe[0]), err_w(err_pipe[1]);
    // Root runs it (and keeps it root): a file others could rewrite would be theirs to run so.
    // That file is exec'd, under the name pasta answers to.
    const std::string file = as_root ? require_root_owned(pasta, "--net user: pasta") : pasta;
    std::vector<std::string> argv = pasta_argv(pasta, net, as_root, fifo.fifo());
    std::string ns = "/proc/" + std::to_string(sandbox_pid) + "/ns/";
    kernel::Fd userns(::open((ns + "user").c_str(), O_RDONLY | O_CLOEXEC)), netns(::open((ns + "net").c_str(), O_RDONLY | O_CLOEXEC));
    if (!userns || !netns) throw Error(ErrorKind::Setup, "--net user: open the sandbox's namespaces", ns, errno);
    // The tap pasta attaches to, made first and persistent: its end is then the namespace's,
    // in the background, and not pasta's exit, which the supervisor waits for (mech/tap.hpp).
    make_persistent_tap(as_root ? -1 : userns.get(), netns.get(), kNsIfname);
    // Root's pasta binds host ports in a cgroup v2 directory of its own, whose hooks make a
    // port it was not given ephemeral (filter/bind_program.hpp): the program in the sandbox
    // does not choose ports on the host. Where no v2 hierarchy is mounted, and for an
    // ordinary user (no cgroup BPF), the ports are kept as asked (docs/run.md).
    kernel::Fd procs;
    if (as_root) {
        const CgroupLayout layout = detect_cgroups();
        if (!layout.v2.empty()) {
            cgroup_ = SandboxCgroup::create(layout, cgroup_plan::Plan{}, "caisson", true, own_cgroup_name("pasta"));
            if (cgroup_->v2_fd() < 0) throw Error(ErrorKind::Setup, "--net user", "pasta's cgroup v2 directory", ENOENT);
            std::vector<bind_program::Kept> kept;
            for (const auto& m : net.publish)
                kept.push_back({static_cast<uint8_t>(m.udp ? IPPROTO_UDP : IPPROTO_TCP), m.host_port});
            attach_ephemeral_binds(cgroup_->v2_fd(), kept);
            procs.reset(::openat(cgroup_->v2_fd(), "cgroup.procs", O_WRONLY | O_CLOEXEC));
            if (!procs) throw Error(ErrorKind::Setup, "--net user: open", "pasta's cgroup.procs", errno);
        }
    }
    // pasta serves only this sandbox: it goes with the supervisor, however that ends.
    static_assert(kPastaUsernsFd == 3 && kPastaNetnsFd == 4, "fork_tethered places the descriptors from 3 on");
    pid_ = fork_tethered("pasta", file, argv, err_w.get(), {userns.get(), netns.get()}, procs.get());
    err_w.reset();

    std::string said;
    bool up = false;
    pollfd fds[2] = {{ready.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
    while (!up) {
        int n = ::poll(fds, 2, kReadyTimeoutMs);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (fds[0].revents & POLLIN) {
            up = true;  // pasta writes its pid once the namespace is configured
        } else if (fds[1].revents) {
            char buf[512];
            ssize_t got = ::read(err_r.get(), buf, sizeof(buf));
            if (got <= 0) break;  // pasta is gone
            said.append(buf, static_cast<size_t>(got));
        } else if (fds[0].revents) {
            fds[0].fd = -1;  // no writer yet: keep waiting for it
        }
    }
    fifo.remove();
    if (!up) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
        while (!said.empty() && said.back() == '\n') said.pop_back();
        auto nl = said.rfind('\n');
        throw Error(ErrorKind::Setup, "--net user: pasta",
                    said.empty() ? "did not come up within 10 s" : said.substr(nl == std::string::npos ? 0 : nl + 1));
    }
}

PastaLink::~PastaLink() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
}

}  // namespace caisson::mech
