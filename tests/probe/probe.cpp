// The probe: run inside a sandbox, it reports as JSON what it sees, so that tests assert
// on the sandbox from the inside. `probe [--write PATH]... [--read PATH]... [--wait-signal]
// [--exit N] [--try ACTION]... [--connect PORT]... [--bind PORT]... [--dial PROTO:ADDR:PORT]... [--serve PORT COUNT] [--call NR,A0,..]...`.
// `--routed-send ADDR6,VIA6,PORT` sends a datagram to ADDR6 through a routing header via VIA6.
// `--try` attempts one privileged or filtered operation and records ok or the errno name:
// mount, chown, raw-socket, ping-socket, module, x32-getpid, int80-getpid, getppid. Resource use:
// `--alloc MB` touches that much memory, `--fork N` tries to hold N children at once,
// `--spin-ms N` burns CPU for N ms of wall time.
#include <nlohmann/json.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <thread>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

using nlohmann::json;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    if (!in) return {};
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string link_target(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
    return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

json status_fields() {
    json j = json::object();
    std::istringstream in(slurp("/proc/self/status"));
    std::string line;
    for (const char* key : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"}) (void)key;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string k = line.substr(0, colon);
        if (k.rfind("Cap", 0) == 0 || k == "NoNewPrivs" || k == "Seccomp" || k == "Uid" || k == "Gid" ||
            k == "Groups" || k == "NSpid" || k == "SigIgn") {
            std::string v = line.substr(colon + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            j[k] = v;
        }
    }
    return j;
}

json mounts() {
    json arr = json::array();
    std::istringstream in(slurp("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string id, parent, dev, root, mp, opts;
        f >> id >> parent >> dev >> root >> mp >> opts;
        std::string tok, fstype, source, superopts;
        while (f >> tok && tok != "-") {
        }
        f >> fstype >> source >> superopts;
        arr.push_back({{"target", mp}, {"fstype", fstype}, {"options", opts}, {"source", source}, {"super", superopts}});
    }
    return arr;
}

json fds() {
    json arr = json::array();
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return arr;
    int self = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        int fd = std::atoi(e->d_name);
        if (fd == self) continue;
        arr.push_back({{"fd", fd}, {"target", link_target(std::string("/proc/self/fd/") + e->d_name)}});
    }
    ::closedir(d);
    return arr;
}

json interfaces() {
    json j = json::object();
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) < 0) return j;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        json& e = j[i->ifa_name];
        e["up"] = (i->ifa_flags & IFF_UP) != 0;
        e["running"] = (i->ifa_flags & IFF_RUNNING) != 0;  // the kernel's operational state
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
            char text[INET_ADDRSTRLEN] = {};
            ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof(text));
            e["inet"] = text;
        }
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6) {
            char text[INET6_ADDRSTRLEN] = {};
            ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, text, sizeof(text));
            e["inet6"].push_back(text);
        }
    }
    ::freeifaddrs(list);
    return j;
}

json rlimits() {
    json j = json::object();
    struct {
        const char* name;
        int r;
    } names[] = {{"NOFILE", RLIMIT_NOFILE}, {"NPROC", RLIMIT_NPROC}, {"AS", RLIMIT_AS}, {"CORE", RLIMIT_CORE},
                 {"FSIZE", RLIMIT_FSIZE},   {"CPU", RLIMIT_CPU},     {"STACK", RLIMIT_STACK}};
    for (auto& n : names) {
        rlimit l{};
        ::getrlimit(static_cast<__rlimit_resource>(n.r), &l);
        j[n.name] = {{"soft", l.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(l.rlim_cur)},
                     {"hard", l.rlim_max == RLIM_INFINITY ? -1.0 : static_cast<double>(l.rlim_max)}};
    }
    return j;
}

std::string try_write(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return strerrorname_np(errno);
    bool ok = ::write(fd, "probe\n", 6) == 6;
    ::close(fd);
    return ok ? "ok" : strerrorname_np(errno);
}

// The first bytes of a file (at most 256), or the errno's name as the error.
bool read_head(const std::string& path, std::string& out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    char buf[256];
    ssize_t n = fd < 0 ? -1 : ::read(fd, buf, sizeof(buf));
    int err = errno;
    if (fd >= 0) ::close(fd);
    out = n < 0 ? strerrorname_np(err) : std::string(buf, static_cast<size_t>(n));
    return n >= 0;
}

std::string try_read(const std::string& path) {
    std::string head;
    if (!read_head(path, head)) return head;
    return head.empty() ? "empty" : "data";
}

// The first line of a small file (a sysctl), or the errno's name.
std::string first_line(const std::string& path) {
    std::string head;
    if (!read_head(path, head)) return head;
    return head.substr(0, head.find('\n'));
}

std::string result(long rc) { return rc < 0 ? strerrorname_np(errno) : "ok"; }

std::string try_action(const std::string& what) {
    if (what == "mount") return result(::mount("none", "/tmp", "tmpfs", 0, nullptr));
    if (what.rfind("signal:", 0) == 0) return result(::kill(std::atoi(what.c_str() + 7), SIGCONT));  // harmless, but a signal
    if (what == "chown") {
        int fd = ::open("/tmp/chown-me", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return strerrorname_np(errno);
        long rc = ::fchown(fd, 1234, 1234);
        std::string r = result(rc);
        ::close(fd);
        return r;
    }
    if (what == "ping-socket") {
        int fd = ::socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
        if (fd >= 0) ::close(fd);
        return result(fd);
    }
    if (what == "raw-socket") {
        int fd = ::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
        if (fd >= 0) ::close(fd);
        return result(fd);
    }
    // A module that is not one: the capability check comes first (EPERM), then EINVAL/ENOEXEC.
    if (what == "module") return result(::syscall(SYS_init_module, "", 0UL, ""));
    if (what == "getppid") return result(::syscall(SYS_getppid));
    // The same call through other ABIs: the filter must kill before the kernel runs it.
    if (what == "x32-getpid") return result(::syscall(SYS_getpid | 0x40000000));
    if (what == "int80-getpid") {
        long ret = 20;  // i386 getpid
        asm volatile("int $0x80" : "+a"(ret) : : "memory");
        return ret < 0 ? strerrorname_np(static_cast<int>(-ret)) : "ok";
    }
    return "unknown action";
}

// Holds up to n children alive at once (each waits for a pipe to close), then lets them go.
// A second thread rewrites the path between two names of the same length while this one
// opens it, over and over: a supervisor that checked the path and then let the kernel read
// it again would open the forbidden file now and then. Counts what each open reached, by
// the file's first bytes.
json race_open(const std::string& allowed, const std::string& forbidden, int rounds) {
    json out;
    if (allowed.size() != forbidden.size()) return out["error"] = "paths of different lengths", out;
    static char path[256];
    std::memcpy(path, allowed.c_str(), allowed.size() + 1);
    std::atomic<bool> stop{false};
    std::thread flipper([&] {
        volatile char* p = path;
        while (!stop.load(std::memory_order_relaxed))
            for (const auto* s : {&forbidden, &allowed})
                for (size_t i = 0; i < s->size(); ++i) p[i] = (*s)[i];
    });
    int reached_allowed = 0, reached_forbidden = 0, refused = 0;
    for (int i = 0; i < rounds; ++i) {
        int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ++refused;
            continue;
        }
        char head[4] = {};
        if (::read(fd, head, sizeof(head)) == 4) (std::memcmp(head, "EVIL", 4) == 0 ? reached_forbidden : reached_allowed)++;
        ::close(fd);
    }
    stop = true;
    flipper.join();
    out["allowed"] = reached_allowed;
    out["forbidden"] = reached_forbidden;
    out["refused"] = refused;
    return out;
}

// The same with openat2, whose flags are in memory too: the other thread also switches them
// between O_PATH and O_RDONLY. A supervisor that let an O_PATH open go on would have the
// kernel read both again: a read descriptor of the refused file. Counts what each open gave.
json race_openat2(const std::string& allowed, const std::string& forbidden, int rounds) {
    json out;
    if (allowed.size() != forbidden.size()) return out["error"] = "paths of different lengths", out;
    static char path[256];
    static open_how how{};
    std::memcpy(path, allowed.c_str(), allowed.size() + 1);
    how.flags = O_PATH | O_CLOEXEC;
    std::atomic<bool> stop{false};
    std::thread flipper([&] {
        volatile char* p = path;
        volatile __u64* flags = &how.flags;
        while (!stop.load(std::memory_order_relaxed))
            for (const auto* s : {&forbidden, &allowed}) {
                for (size_t i = 0; i < s->size(); ++i) p[i] = (*s)[i];
                *flags = (s == &forbidden ? O_RDONLY : O_PATH) | O_CLOEXEC;
            }
    });
    int reached_allowed = 0, reached_forbidden = 0, path_only = 0, refused = 0;
    for (int i = 0; i < rounds; ++i) {
        int fd = static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how)));
        if (fd < 0) {
            ++refused;
            continue;
        }
        char head[4] = {};
        if (::fcntl(fd, F_GETFL) & O_PATH) ++path_only;
        else if (::read(fd, head, sizeof(head)) == 4) (std::memcmp(head, "EVIL", 4) == 0 ? reached_forbidden : reached_allowed)++;
        ::close(fd);
    }
    stop = true;
    flipper.join();
    out["allowed"] = reached_allowed;
    out["forbidden"] = reached_forbidden;
    out["path_only"] = path_only;
    out["refused"] = refused;
    return out;
}

// Kills (SIGKILL) every other process of the pid namespace whose name is `name`; how many.
int kill_named(const std::string& name) {
    int killed = 0;
    DIR* d = ::opendir("/proc");
    if (!d) return -1;
    while (dirent* e = ::readdir(d)) {
        int pid = std::atoi(e->d_name);
        if (pid <= 0 || pid == ::getpid()) continue;
        std::ifstream comm("/proc/" + std::string(e->d_name) + "/comm");
        std::string got;
        if (std::getline(comm, got) && got == name && ::kill(pid, SIGKILL) == 0) ++killed;
    }
    ::closedir(d);
    return killed;
}

json try_fork(int n) {
    int p[2];
    if (::pipe(p) < 0) return {{"error", strerrorname_np(errno)}};
    int made = 0;
    std::string error = "none";
    for (; made < n; ++made) {
        pid_t c = ::fork();
        if (c < 0) {
            error = strerrorname_np(errno);
            break;
        }
        if (c == 0) {
            ::close(p[1]);
            char b;
            (void)!::read(p[0], &b, 1);
            ::_exit(0);
        }
    }
    ::close(p[1]);
    ::close(p[0]);
    while (::wait(nullptr) > 0) {
    }
    return {{"made", made}, {"error", error}};
}

double spin(int ms) {
    timespec start{}, now{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; ++i) x = x + 1;
        ::clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
    timespec cpu{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    return static_cast<double>(cpu.tv_sec) * 1000 + static_cast<double>(cpu.tv_nsec) / 1e6;
}

std::string try_alloc(long mb) {
    size_t len = static_cast<size_t>(mb) << 20;
    void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return strerrorname_np(errno);
    for (size_t i = 0; i < len; i += 4096) static_cast<volatile char*>(m)[i] = 1;
    ::munmap(m, len);
    return "ok";
}

std::string try_tcp(bool connect_not_bind, int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return strerrorname_np(errno);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect_not_bind ? ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a))
                              : ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    std::string r = result(rc);
    ::close(fd);
    return r;
}

// "tcp:127.0.0.1:80", "udp:[::1]:53", "tcp6:[::ffff:127.0.0.1]:80" (an IPv6 socket):
// connect for tcp, one sendto for udp; "ok" or the errno name.
// Two clients at once: socket A asks 127.0.0.1:53 for NAME_A, socket B at once for NAME_B,
// `rounds` times; counts, for each, the answers that were its own (its question's id), another's,
// or none within a second. "A_own,A_other,A_none,B_own,B_other,B_none".
std::string try_dns_pair(const std::string& spec) {
    auto comma = spec.find(',');
    if (comma == std::string::npos) return "bad spec";
    const std::string names[2] = {spec.substr(0, comma), spec.substr(comma + 1)};
    auto query = [](uint16_t id, const std::string& name) {
        std::string q;
        q += static_cast<char>(id >> 8), q += static_cast<char>(id & 0xff);
        q += std::string("\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
        std::istringstream labels(name);
        for (std::string l; std::getline(labels, l, '.');) q += static_cast<char>(l.size()) + l;
        q += std::string("\x00\x00\x01\x00\x01", 5);
        return q;
    };
    int counts[2][3] = {};
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(53);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int round = 0; round < 10; ++round) {
        int fds[2];
        uint16_t ids[2];
        for (int i = 0; i < 2; ++i) {
            fds[i] = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            ids[i] = static_cast<uint16_t>(0x1000 * (i + 1) + round);
        }
        for (int i = 0; i < 2; ++i) {
            const std::string q = query(ids[i], names[i]);
            (void)::sendto(fds[i], q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&server), sizeof(server));
        }
        for (int i = 0; i < 2; ++i) {
            pollfd p{fds[i], POLLIN, 0};
            unsigned char buf[512];
            ssize_t n = ::poll(&p, 1, 1000) == 1 ? ::recv(fds[i], buf, sizeof(buf), 0) : -1;
            if (n < 2) ++counts[i][2];
            else ++counts[i][((buf[0] << 8) | buf[1]) == ids[i] ? 0 : 1];
            ::close(fds[i]);
        }
    }
    std::string out;
    for (auto& c : counts)
        for (int v : c) out += (out.empty() ? "" : ",") + std::to_string(v);
    return out;
}

// NAME's first IPv4 address as the C library resolves it, or the resolver's error.
std::string try_resolve(const std::string& name) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &res);
    if (rc != 0) return rc == EAI_NONAME ? "EAI_NONAME" : rc == EAI_AGAIN ? "EAI_AGAIN" : rc == EAI_FAIL ? "EAI_FAIL" : "EAI_" + std::to_string(rc);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, text, sizeof(text));
    ::freeaddrinfo(res);
    return text;
}

// NAME:PORT[:HOST]: resolves NAME, connects, sends a GET with Host: HOST (default NAME)
// and returns what came back until the server closed ("" when nothing), or the error.
std::string try_http_get(const std::string& spec) {
    auto c1 = spec.find(':');
    if (c1 == std::string::npos) return "bad spec";
    auto c2 = spec.find(':', c1 + 1);
    std::string name = spec.substr(0, c1);
    int port = std::atoi(spec.c_str() + c1 + 1);
    std::string host = c2 == std::string::npos ? name : spec.substr(c2 + 1);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) return "resolve failed";
    sockaddr_in a = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
    ::freeaddrinfo(res);
    a.sin_port = htons(static_cast<uint16_t>(port));
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval limit{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
        std::string r = strerrorname_np(errno);
        ::close(fd);
        return r;
    }
    std::string req = "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
    (void)!::write(fd, req.data(), req.size());
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
    if (n < 0 && got.empty()) got = strerrorname_np(errno);
    ::close(fd);
    return got;
}

// "ADDR,VIA,PORT": a UDP datagram to [ADDR]:PORT through a segment routing header whose first
// segment is VIA, which the kernel then sends the packet to (setsockopt IPV6_RTHDR, no
// privilege needed): ok or the errno name of the setsockopt or the send.
std::string try_routed_send(const std::string& spec) {
    auto c1 = spec.find(','), c2 = spec.rfind(',');
    if (c1 == std::string::npos || c2 == c1) return "bad spec";
    sockaddr_in6 to{}, via{};
    to.sin6_family = AF_INET6;
    to.sin6_port = htons(static_cast<uint16_t>(std::atoi(spec.c_str() + c2 + 1)));
    if (::inet_pton(AF_INET6, spec.substr(0, c1).c_str(), &to.sin6_addr) != 1 ||
        ::inet_pton(AF_INET6, spec.substr(c1 + 1, c2 - c1 - 1).c_str(), &via.sin6_addr) != 1)
        return "bad address";
    int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return strerrorname_np(errno);
    // struct ipv6_sr_hdr: next header, length in 8-byte units past the first 8, type 4,
    // segments left, first segment, flags, tag; then the segments, the last one visited first.
    uint8_t srh[8 + 2 * 16] = {0, 4, 4, 1, 1, 0, 0, 0};
    std::memcpy(srh + 8, &to.sin6_addr, 16);
    std::memcpy(srh + 24, &via.sin6_addr, 16);
    std::string r = "ok";
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_RTHDR, srh, sizeof(srh)) < 0) r = std::string("setsockopt ") + strerrorname_np(errno);
    else if (::sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0) r = strerrorname_np(errno);
    ::close(fd);
    return r;
}

// An attack on a process that the runtime starts in this pid namespace (`caisson-oci exec`):
// takes the next new pids with PTRACE_SEIZE as they appear (CAP_SYS_PTRACE passes over
// non-dumpability), and for each one taken before its exec (its name "cx-..."), stops it and
// reads its effective capabilities and user, then lets it go. Ends at the first such
// process, or after `seconds`. Only in a pid namespace other than `host_pidns` (the test's).
nlohmann::json try_seize_next(const std::string& spec) {
    auto comma = spec.find(',');
    if (comma == std::string::npos) return "bad spec";
    char own[64] = {};
    if (::readlink("/proc/self/ns/pid", own, sizeof(own) - 1) < 0 || spec.substr(0, comma) == own)
        return "refused: the caller's own pid namespace";
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(spec.c_str() + comma + 1));
    nlohmann::json seen = nlohmann::json::array();
    char buf[32] = {};
    int fd = ::open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) ::close(fd);
    if (n <= 0) return "no ns_last_pid";
    // The next pid, tried without pause: the process is taken within microseconds of its
    // clone. One taken after its exec moves the aim to the pid after it.
    pid_t target = std::atoi(buf) + 1;
    std::cout << "ready" << std::endl;
    for (unsigned spin = 0;; ++spin) {
        if ((spin & 0xfff) == 0 && std::chrono::steady_clock::now() >= until) break;
        if (::ptrace(PTRACE_SEIZE, target, nullptr, nullptr) != 0) continue;
        int status = 0;
        if (::ptrace(PTRACE_INTERRUPT, target, nullptr, nullptr) == 0) ::waitpid(target, &status, __WALL);
        std::ifstream in("/proc/" + std::to_string(target) + "/status");
        nlohmann::json one;
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("Name:\t", 0) == 0) one["name"] = line.substr(6);
            for (const char* set : {"CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"})
                if (line.rfind(std::string(set) + ":\t", 0) == 0) one[set] = line.substr(std::strlen(set) + 2);
            if (line.rfind("CapEff:\t", 0) == 0) one["cap_eff"] = line.substr(8);
            if (line.rfind("Uid:\t", 0) == 0) one["uid"] = line.substr(5, line.find('\t', 5) - 5);
        }
        // What of its caller's environment the process still holds in memory.
        std::ifstream env("/proc/" + std::to_string(target) + "/environ", std::ios::binary);
        std::string environ_text((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
        one["environ_secret"] = environ_text.find("CAISSON_TEST_SECRET=") != std::string::npos;
        ::ptrace(PTRACE_DETACH, target, nullptr, nullptr);
        seen.push_back(one);
        if (one.value("name", "").rfind("cx-", 0) == 0) break;
        ++target;
    }
    return seen;
}

// LPORT,ADDR,PORT: a UDP socket bound to LPORT sends one datagram to ADDR:PORT and waits up
// to 5 s for one back: "replied", "no reply", or the errno name.
std::string try_udp_from(const std::string& spec) {
    auto c1 = spec.find(','), c2 = spec.rfind(',');
    if (c1 == std::string::npos || c2 == c1) return "bad spec";
    sockaddr_in local{}, to{};
    local.sin_family = to.sin_family = AF_INET;
    local.sin_port = htons(static_cast<uint16_t>(std::atoi(spec.c_str())));
    to.sin_port = htons(static_cast<uint16_t>(std::atoi(spec.c_str() + c2 + 1)));
    if (::inet_pton(AF_INET, spec.substr(c1 + 1, c2 - c1 - 1).c_str(), &to.sin_addr) != 1) return "bad address";
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    std::string out;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0 ||
        ::sendto(fd, "hi", 2, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 2) {
        out = strerrorname_np(errno);
    } else {
        pollfd p{fd, POLLIN, 0};
        char buf[64];
        out = ::poll(&p, 1, 5000) == 1 && ::recv(fd, buf, sizeof(buf), 0) > 0 ? "replied" : "no reply";
    }
    if (fd >= 0) ::close(fd);
    return out;
}

std::string try_dial(const std::string& spec) {
    if (spec.rfind("unix:", 0) == 0) {  // "unix:PATH": a stream socket's path
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        const std::string path = spec.substr(5);
        if (path.size() >= sizeof(a.sun_path)) return "bad spec";
        std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return strerrorname_np(errno);
        int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        std::string r = rc < 0 ? strerrorname_np(errno) : "ok";
        ::close(fd);
        return r;
    }
    auto colon = spec.find(':'), last = spec.rfind(':');
    if (colon == std::string::npos || last == colon) return "bad spec";
    std::string proto = spec.substr(0, colon), host = spec.substr(colon + 1, last - colon - 1);
    int port = std::atoi(spec.c_str() + last + 1);
    bool v6 = host.front() == '[';
    if (v6) host = host.substr(1, host.size() - 2);
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(port));
        if (::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) return "bad address";
        len = sizeof(*a);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<uint16_t>(port));
        if (::inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) return "bad address";
        len = sizeof(*a);
    }
    bool udp = proto == "udp";
    // "mptcp": a stream that is not TCP to Landlock's rules (IPPROTO_MPTCP).
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, proto == "mptcp" ? 262 : 0);
    if (fd < 0) return strerrorname_np(errno);
    timeval limit{2, 0};  // a dropped SYN: EINPROGRESS after 2 s, not a hang
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    long rc = udp ? ::sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len)
                  : ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    std::string r = rc < 0 ? strerrorname_np(errno) : "ok";
    ::close(fd);
    return r;
}

// Listens on TCP PORT (every address), says "ready", and answers `count` connections with
// one line each, "probe PEER"; returns the peers seen.
json serve(int port, int count) {
    json peers = json::array();
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 || ::listen(fd, 8) < 0) {
        peers.push_back(strerrorname_np(errno));
        return peers;
    }
    std::cout << "ready" << std::endl;
    for (int i = 0; i < count; ++i) {
        sockaddr_in peer{};
        socklen_t len = sizeof(peer);
        int c = ::accept4(fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
        if (c < 0) break;
        char text[INET_ADDRSTRLEN] = {};
        ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
        std::string line = std::string("probe ") + text + "\n";
        (void)!::write(c, line.data(), line.size());
        ::close(c);
        peers.push_back(text);
    }
    ::close(fd);
    return peers;
}

// "NR,A0,A1,..." -> ok or the errno name.
std::string try_call(const std::string& spec) {
    long v[7] = {};
    std::istringstream in(spec);
    std::string part;
    for (int i = 0; i < 7 && std::getline(in, part, ','); ++i) v[i] = static_cast<long>(std::stoull(part, nullptr, 0));
    return result(::syscall(v[0], v[1], v[2], v[3], v[4], v[5], v[6]));
}

// One filesystem call, "OP:ARG[:ARG2]", for the attacks on `[open]` rules: "ok" or the
// errno. "$fd" in an argument stands for the descriptor the last open made.
std::string try_fs(const std::string& spec, int& last_fd) {
    std::vector<std::string> a;
    std::istringstream in(spec);
    for (std::string part; std::getline(in, part, ':');) {
        if (auto at = part.find("$fd"); at != std::string::npos) part.replace(at, 3, std::to_string(last_fd));
        a.push_back(part);
    }
    const std::string& op = a[0];
    const char* x = a.size() > 1 ? a[1].c_str() : "";
    const char* y = a.size() > 2 ? a[2].c_str() : "";
    auto opened = [&](int fd) {
        if (fd < 0) return std::string(strerrorname_np(errno));
        last_fd = fd;
        return std::string("ok");
    };
    if (op == "open-r") return opened(::open(x, O_RDONLY));
    if (op == "open-dir") return opened(::open(x, O_RDONLY | O_DIRECTORY));
    if (op == "open-append") {
        int fd = ::open(x, O_WRONLY | O_APPEND);
        if (fd < 0) return strerrorname_np(errno);
        return ::write(fd, "X", 1) == 1 ? (::close(fd), "ok") : (::close(fd), strerrorname_np(errno));
    }
    if (op == "tmpfile") return opened(::open(x, O_TMPFILE | O_WRONLY, 0644));
    if (op == "open-rw-read") {  // opened for reading and writing, then read
        int fd = ::open(x, O_RDWR);
        if (fd < 0) return strerrorname_np(errno);
        char c;
        std::string r = ::read(fd, &c, 1) == 1 ? "ok" : strerrorname_np(errno);
        ::close(fd);
        return r;
    }
    if (op == "open-path") return opened(::open(x, O_PATH));
    if (op == "openat2-path") {
        open_how how{};
        how.flags = O_PATH | O_CLOEXEC;
        return opened(static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, x, &how, sizeof(how))));
    }
    if (op == "link") return result(::link(x, y));
    if (op == "link-follow") return result(::linkat(AT_FDCWD, x, AT_FDCWD, y, AT_SYMLINK_FOLLOW));
    if (op == "rename") return result(::rename(x, y));
    if (op == "symlink") return result(::symlink(x, y));
    if (op == "mkdir") return result(::mkdir(x, 0755));
    if (op == "unlink") return result(::unlink(x));
    if (op == "rmdir") return result(::rmdir(x));
    if (op == "truncate") return result(::truncate(x, 0));
    if (op == "chdir") return result(::chdir(x));
    return "unknown op";
}

}  // namespace

int main(int argc, char** argv) {
    json out;
    json writes = json::object(), reads = json::object(), tries = json::object();
    json connects = json::object(), binds = json::object(), calls = json::object();
    json dials = json::object(), fs_calls = json::object();
    int last_fd = -1;
    int exit_code = 0;
    bool wait_signal = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--write" && i + 1 < argc) writes[argv[i + 1]] = try_write(argv[i + 1]), ++i;
        else if (a == "--read" && i + 1 < argc) reads[argv[i + 1]] = try_read(argv[i + 1]), ++i;
        else if (a == "--cat" && i + 1 < argc) out["cat"][argv[i + 1]] = first_line(argv[i + 1]), ++i;
        else if (a == "--exit" && i + 1 < argc) exit_code = std::atoi(argv[++i]);
        else if (a == "--wait-signal") wait_signal = true;
        else if (a == "--split-ptrace") {
            // A thread keeps CAP_SYS_PTRACE in its bounding set while the leader drops it (the
            // set is each thread's): what /proc/PID/status alone would not show.
            static int hold[2];
            if (::pipe(hold) == 0) {
                std::thread([] {
                    char c;
                    (void)!::read(hold[0], &c, 1);
                }).detach();
                out["split_ptrace"] = ::prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) == 0 ? "ok" : strerrorname_np(errno);
            }
        }
        else if (a == "--try" && i + 1 < argc) tries[argv[i + 1]] = try_action(argv[i + 1]), ++i;
        else if (a == "--connect" && i + 1 < argc) connects[argv[i + 1]] = try_tcp(true, std::atoi(argv[i + 1])), ++i;
        else if (a == "--serve" && i + 2 < argc) out["served"] = serve(std::atoi(argv[i + 1]), std::atoi(argv[i + 2])), i += 2;
        else if (a == "--dial" && i + 1 < argc) dials[argv[i + 1]] = try_dial(argv[i + 1]), ++i;
        else if (a == "--seize-next" && i + 1 < argc) out["seized"] = try_seize_next(argv[++i]);
        else if (a == "--udp-from" && i + 1 < argc) out["udp_from"][argv[i + 1]] = try_udp_from(argv[i + 1]), ++i;
        else if (a == "--routed-send" && i + 1 < argc) out["routed_sends"][argv[i + 1]] = try_routed_send(argv[i + 1]), ++i;
        else if (a == "--resolve" && i + 1 < argc) out["resolve"][argv[i + 1]] = try_resolve(argv[i + 1]), ++i;
        else if (a == "--dns-pair" && i + 1 < argc) out["dns_pair"][argv[i + 1]] = try_dns_pair(argv[i + 1]), ++i;
        else if (a == "--http-get" && i + 1 < argc) out["http_get"][argv[i + 1]] = try_http_get(argv[i + 1]), ++i;
        else if (a == "--bind" && i + 1 < argc) binds[argv[i + 1]] = try_tcp(false, std::atoi(argv[i + 1])), ++i;
        else if (a == "--call" && i + 1 < argc) calls[argv[i + 1]] = try_call(argv[i + 1]), ++i;
        else if (a == "--flood-call" && i + 2 < argc) {
            // Makes the call from N threads and this one, forever: a supervisor kept busy by
            // notifications (each call a refusal it is told of) must still end the sandbox.
            const std::string spec = argv[i + 1];
            for (int t = 1; t < std::atoi(argv[i + 2]); ++t) std::thread([spec] {
                    for (;;) (void)try_call(spec);
                }).detach();
            for (;;) (void)try_call(spec);
        }
        else if (a == "--fs" && i + 1 < argc) fs_calls[argv[i + 1]] = try_fs(argv[i + 1], last_fd), ++i;
        else if (a == "--alloc" && i + 1 < argc) out["alloc"] = try_alloc(std::atol(argv[++i]));
        else if (a == "--kill-named" && i + 1 < argc) out["killed"] = kill_named(argv[++i]);
        else if (a == "--race-open" && i + 3 < argc) out["race_open"] = race_open(argv[i + 1], argv[i + 2], std::atoi(argv[i + 3])), i += 3;
        else if (a == "--race-openat2" && i + 3 < argc) out["race_openat2"] = race_openat2(argv[i + 1], argv[i + 2], std::atoi(argv[i + 3])), i += 3;
        else if (a == "--inotify" && i + 1 < argc) {
            // Takes up to N inotify instances and keeps them: how many, and why no more.
            int want = std::atoi(argv[++i]), got = 0;
            std::string why = "ok";
            while (got < want) {
                if (::inotify_init1(IN_CLOEXEC) < 0) {
                    why = strerrorname_np(errno);
                    break;
                }
                ++got;
            }
            out["inotify"] = {{"got", got}, {"stopped", why}};
        }
        else if (a == "--fork" && i + 1 < argc) out["fork"] = try_fork(std::atoi(argv[++i]));
        else if (a == "--session-keyring") {
            // The session keyring's serial (made by nobody here): whose keys this process holds.
            long id = ::syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 0);
            out["session_keyring"] = id < 0 ? std::string(strerrorname_np(errno)) : std::to_string(id);
        }
        else if (a == "--spin-ms" && i + 1 < argc) out["spin_cpu_ms"] = spin(std::atoi(argv[++i]));
        else if (a == "--tiocsti") {
            // Try to push a character into the input of the terminal on stdin (CVE-2017-5226).
            char c = '!';
            out["tiocsti"] = ::ioctl(0, TIOCSTI, &c) == 0 ? "ok" : strerrorname_np(errno);
        }
    }
    out["pid"] = ::getpid();
    out["ppid"] = ::getppid();
    out["uid"] = ::getuid();
    out["gid"] = ::getgid();
    out["sid"] = ::getsid(0);
    out["pgid"] = ::getpgid(0);
    int tty = ::open("/dev/tty", O_RDONLY | O_CLOEXEC);
    out["has_ctty"] = tty >= 0;
    if (tty >= 0) ::close(tty);
    out["uid_map"] = slurp("/proc/self/uid_map");
    out["gid_map"] = slurp("/proc/self/gid_map");
    out["setgroups"] = slurp("/proc/self/setgroups");
    utsname u{};
    ::uname(&u);
    out["hostname"] = u.nodename;
    out["interfaces"] = interfaces();
    out["mounts"] = mounts();
    out["status"] = status_fields();
    out["fds"] = fds();
    out["cgroup"] = slurp("/proc/self/cgroup");
    out["timens_offsets"] = slurp("/proc/self/timens_offsets");
    timespec mono{}, boot{};
    ::clock_gettime(CLOCK_MONOTONIC, &mono);
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    out["monotonic_s"] = mono.tv_sec;
    out["boottime_s"] = boot.tv_sec;
    json ns = json::object();
    for (const char* n : {"user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"})
        ns[n] = link_target(std::string("/proc/self/ns/") + n);
    out["ns"] = ns;
    char cwd[4096] = {};
    out["cwd"] = ::getcwd(cwd, sizeof(cwd)) ? cwd : "";
    {
        // Enough `..` from inside the root end at the root; from outside it, elsewhere.
        std::string up = ".";
        for (int i = 0; i < 64; ++i) up += "/..";
        // The mount too: a root bound from the host's "/" has the same inode as the host's.
        struct statx top{}, root{};
        out["cwd_inside_root"] = ::statx(AT_FDCWD, up.c_str(), 0, STATX_INO | STATX_MNT_ID, &top) == 0 &&
                                 ::statx(AT_FDCWD, "/", 0, STATX_INO | STATX_MNT_ID, &root) == 0 &&
                                 top.stx_mnt_id == root.stx_mnt_id && top.stx_ino == root.stx_ino;
    }
    json env = json::object();
    for (char** e = environ; *e; ++e) {
        std::string s(*e);
        auto eq = s.find('=');
        env[s.substr(0, eq)] = eq == std::string::npos ? "" : s.substr(eq + 1);
    }
    out["env"] = env;
    out["rlimits"] = rlimits();
    cpu_set_t cpus;
    json allowed = json::array();
    if (::sched_getaffinity(0, sizeof(cpus), &cpus) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &cpus)) allowed.push_back(c);
    out["cpus_allowed"] = allowed;
    out["writes"] = writes;
    out["reads"] = reads;
    out["tries"] = tries;
    out["connects"] = connects;
    out["binds"] = binds;
    out["dials"] = dials;
    out["calls"] = calls;
    out["fs"] = fs_calls;
    out["umask"] = [] { mode_t m = ::umask(0); ::umask(m); return static_cast<int>(m); }();
    sigset_t blocked;
    ::sigprocmask(SIG_SETMASK, nullptr, &blocked);
    out["signals_blocked"] = ::sigismember(&blocked, SIGTERM) == 1;

    if (wait_signal) {
        // Tell the test we are ready, then report which signal arrived.
        sigset_t set;
        ::sigemptyset(&set);
        for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) ::sigaddset(&set, s);
        ::sigprocmask(SIG_BLOCK, &set, nullptr);
        std::cout << "ready" << std::endl;
        int sig = 0;
        ::sigwait(&set, &sig);
        out["signal"] = sigabbrev_np(sig);
    }
    std::cout << out.dump() << std::endl;
    return exit_code;
}
