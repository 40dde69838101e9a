#include "mech/unix_socket.hpp"

#include <caisson/error.hpp>

#include "kernel/syscalls.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace caisson::mech {
namespace {

// The address for `path`; `dir` keeps the directory open while a long path is in use.
sockaddr_un address(const std::string& path, kernel::Fd& dir, const char* what) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string p = path;
    if (p.size() >= sizeof(a.sun_path)) {
        auto slash = p.rfind('/');
        std::string parent = slash == 0 ? "/" : p.substr(0, slash);
        dir.reset(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!dir) throw Error(ErrorKind::Setup, what, parent, errno);
        p = "/proc/self/fd/" + std::to_string(dir.get()) + "/" + p.substr(slash + 1);
        if (p.size() >= sizeof(a.sun_path)) throw Error(ErrorKind::Usage, what, path, ENAMETOOLONG);
    }
    std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
    return a;
}

}  // namespace

kernel::Fd connect_unix(const std::string& path, const char* what) {
    kernel::Fd dir;
    sockaddr_un a = address(path, dir, what);
    kernel::Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) throw Error(ErrorKind::Setup, what, "socket", errno);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) throw Error(ErrorKind::Setup, what, path, errno);
    return s;
}

kernel::Fd listen_unix(const std::string& path, const char* what) {
    kernel::Fd dir;
    sockaddr_un a = address(path, dir, what);
    kernel::Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) throw Error(ErrorKind::Setup, what, "socket", errno);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) throw Error(ErrorKind::Setup, what, path, errno);
    if (::listen(s.get(), 4) < 0) throw Error(ErrorKind::Setup, what, path, errno);
    return s;
}

long peer_uid(int sock) {
    ucred peer{};
    socklen_t len = sizeof(peer);
    return ::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 ? static_cast<long>(peer.uid) : -1;
}

namespace {

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

// The text of a small file beneath `dir`; "" when unread.
std::string read_at(int dir, const char* name) {
    kernel::Fd fd(::openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return "";
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    return n < 0 ? "" : out;
}

std::string link_at(int dir, const char* name) {
    char target[64] = {};
    ssize_t n = ::readlinkat(dir, name, target, sizeof(target) - 1);
    return n > 0 ? std::string(target, static_cast<size_t>(n)) : "";
}

// A field of a /proc status file ("NoNewPrivs:\t1") as text; "" when absent.
std::string field(const std::string& status, const std::string& key) {
    size_t at = status.find("\n" + key + ":");
    if (at == std::string::npos) return "";
    at += key.size() + 2;
    while (at < status.size() && (status[at] == '\t' || status[at] == ' ')) ++at;
    return status.substr(at, status.find('\n', at) - at);
}

// The namespaces a caller must share with the pool: in any other one (a network of its own,
// say) it would get a sandbox outside it.
constexpr const char* kNamespaces[] = {"user", "mnt", "net", "ipc", "uts", "pid", "cgroup", "time"};
// A caller with more threads than this is not looked through, and not served.
constexpr int kMaxThreads = 1024;

// What confines one thread, as /proc shows it.
struct Standing {
    std::string ns[std::size(kNamespaces)];
    dev_t root_dev = 0;
    ino_t root_ino = 0;
    long no_new_privs = -1, seccomp = -1, filters = -1;
    uint64_t cap_eff = 0, cap_bnd = 0;
    bool read = false;
};

// `like`: the pool's own, when a caller's thread is read: one in other namespaces is
// refused on them, before its root is looked at.
Standing standing_of(int task_dir, const Standing* like = nullptr) {
    Standing s;
    bool links = true;
    for (size_t i = 0; i < std::size(kNamespaces); ++i) {
        s.ns[i] = link_at(task_dir, (std::string("ns/") + kNamespaces[i]).c_str());
        links &= !s.ns[i].empty();
    }
    if (like && links)
        for (size_t i = 0; i < std::size(kNamespaces); ++i)
            if (s.ns[i] != like->ns[i]) return s.read = true, s;
    // Its root: a chroot (a thread's own, after unshare(CLONE_FS)) is no namespace. Looked
    // at from cached attributes only: a root on a FUSE mount of the caller's must not make
    // the pool wait on the caller's answer.
    struct statx root{};
    const bool rooted = ::statx(task_dir, "root", AT_STATX_DONT_SYNC, STATX_INO, &root) == 0;
    s.root_dev = ::makedev(root.stx_dev_major, root.stx_dev_minor);
    s.root_ino = root.stx_ino;
    const std::string status = "\n" + read_at(task_dir, "status");
    auto number = [&](const char* key, int base) -> long {
        std::string v = field(status, key);
        return v.empty() ? -1 : std::strtol(v.c_str(), nullptr, base);
    };
    s.no_new_privs = number("NoNewPrivs", 10);
    s.seccomp = number("Seccomp", 10);
    s.filters = number("Seccomp_filters", 10);
    s.cap_eff = std::strtoull(field(status, "CapEff").c_str(), nullptr, 16);
    s.cap_bnd = std::strtoull(field(status, "CapBnd").c_str(), nullptr, 16);
    s.read = links && rooted && s.no_new_privs >= 0 && s.seccomp >= 0 && s.filters >= 0 && !field(status, "CapEff").empty() &&
             !field(status, "CapBnd").empty();
    return s;
}

// Why a thread standing at `t` is confined beyond `mine`; "" when it is not.
std::string beyond(const Standing& t, const Standing& mine) {
    if (!t.read) return "what confines the caller cannot be read";
    for (size_t i = 0; i < std::size(kNamespaces); ++i)
        if (t.ns[i] != mine.ns[i])
            return std::string("the caller is in another ") + kNamespaces[i] + " namespace (" + t.ns[i] + ", not " + mine.ns[i] + ")";
    if (t.root_dev != mine.root_dev || t.root_ino != mine.root_ino) return "the caller has another root directory";
    if (t.no_new_privs > mine.no_new_privs)
        return "the caller runs with no_new_privs and the pool does not (a Landlock domain or a filter of its own)";
    if (t.seccomp != mine.seccomp && t.seccomp != 0) return "the caller is in seccomp mode " + std::to_string(t.seccomp);
    // A count: the caller's filters are not read, only numbered. A pool under filters of its
    // own (a service manager's) accepts a caller under as many others; docs/run.md says so.
    if (t.filters > mine.filters)
        return "the caller is under " + std::to_string(t.filters) + " seccomp filters, more than the pool's " + std::to_string(mine.filters);
    if ((mine.cap_eff & ~t.cap_eff) || (mine.cap_bnd & ~t.cap_bnd)) return "the caller lacks capabilities the pool has";
    return "";
}

}  // namespace

namespace {

// The connected peer's /proc/PID directory, opened while the process was the peer (its pidfd
// checked alive after), and its pidfd; an empty descriptor and `why` when it cannot be had.
kernel::Fd peer_proc_dir(int sock, kernel::Fd& pidfd, std::string& why) {
    int raw = -1;
    socklen_t len = sizeof(raw);
    if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &raw, &len) < 0) {
        why = std::string("the kernel does not name the peer by a pidfd (SO_PEERPIDFD: ") + strerrorname_np(errno) +
              "; Linux 6.5 or later)";
        return {};
    }
    pidfd.reset(raw);
    // The peer's pid as this /proc numbers it (the pidfd's own word, whatever pid namespace
    // the socket's credentials were translated into).
    const std::string info = "\n" + read_at(AT_FDCWD, ("/proc/self/fdinfo/" + std::to_string(raw)).c_str());
    const std::string pid_text = field(info, "Pid");
    const long pid = pid_text.empty() ? -1 : std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid <= 0) {
        why = "the peer cannot be found in this /proc (gone, or in no pid namespace it shows)";
        return {};
    }
    kernel::Fd dir(::open(("/proc/" + std::to_string(pid)).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    // Opened while the process was the peer: a /proc/PID directory stays that process's.
    if (!dir || kernel::pidfd_send_signal(pidfd.get(), 0) < 0) {
        why = "the peer ended while it was looked at";
        return {};
    }
    return dir;
}

}  // namespace

std::string peer_in_another_user_namespace(int sock) {
    kernel::Fd pidfd;
    std::string why;
    kernel::Fd dir = peer_proc_dir(sock, pidfd, why);
    if (!dir) return why;
    struct stat theirs{}, mine{};
    if (::fstatat(dir.get(), "ns/user", &theirs, 0) < 0 || ::stat("/proc/thread-self/ns/user", &mine) < 0)
        return std::string("the user namespaces cannot be compared: ") + strerrorname_np(errno);
    if (kernel::pidfd_send_signal(pidfd.get(), 0) < 0) return "the peer ended while it was looked at";
    if (theirs.st_ino != mine.st_ino || theirs.st_dev != mine.st_dev) return "it runs in another user namespace (a sandbox's)";
    return "";
}

std::string peer_stands_elsewhere(int sock) {
    kernel::Fd pidfd;
    std::string unreadable;
    kernel::Fd dir = peer_proc_dir(sock, pidfd, unreadable);
    if (!dir) return unreadable;
    kernel::Fd self(::open("/proc/thread-self", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!self) return "this process's own /proc entry cannot be read";
    const Standing mine = standing_of(self.get());
    if (!mine.read) return "the pool's own confinement cannot be read";
    // Every thread: each may be confined alone (Landlock, seccomp, a root, namespaces).
    kernel::Fd tasks(::openat(dir.get(), "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int listed = tasks ? ::fcntl(tasks.get(), F_DUPFD_CLOEXEC, 0) : -1;
    DIR* list = listed >= 0 ? ::fdopendir(listed) : nullptr;
    if (!list) {
        if (listed >= 0) ::close(listed);
        return "the caller's threads cannot be listed";
    }
    std::string why;
    int threads = 0;
    for (;;) {
        errno = 0;
        dirent* e = ::readdir(list);
        if (!e) {
            if (errno) why = "the caller's threads cannot be listed";
            break;
        }
        if (e->d_name[0] == '.') continue;
        if (++threads > kMaxThreads) {
            why = "the caller has more than " + std::to_string(kMaxThreads) + " threads to look through";
            break;
        }
        kernel::Fd task(::openat(tasks.get(), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!task) {
            if (errno == ENOENT || errno == ESRCH) continue;  // a thread that ended meanwhile
            why = "the caller's thread " + std::string(e->d_name) + " cannot be read";
            break;
        }
        why = beyond(standing_of(task.get(), &mine), mine);
        if (!why.empty()) break;
    }
    ::closedir(list);
    if (why.empty() && kernel::pidfd_send_signal(pidfd.get(), 0) < 0) return "the caller ended while it was looked at";
    return why;
}

}  // namespace caisson::mech
