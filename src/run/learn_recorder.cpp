#include "run/learn_recorder.hpp"

#include "kernel/fd.hpp"
#include "kernel/process_memory.hpp"
#include "kernel/syscalls.hpp"
#include "policy/path_rules.hpp"
#include "run/open_call.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace caisson::run {
namespace {

constexpr size_t kMaxPaths = 65536;
constexpr size_t kMaxAddresses = 256;

std::string link_of(const std::string& proc_path) {
    char buf[4096];
    ssize_t n = ::readlink(proc_path.c_str(), buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// "/a/./b/../c" is "/a/c": only for names the kernel cannot resolve for us.
std::string lexical(const std::string& abs) {
    std::vector<std::string> parts;
    size_t at = 0;
    while (at <= abs.size()) {
        size_t end = abs.find('/', at);
        if (end == std::string::npos) end = abs.size();
        std::string name = abs.substr(at, end - at);
        if (name == "..") {
            if (!parts.empty()) parts.pop_back();
        } else if (!name.empty() && name != ".") {
            parts.push_back(name);
        }
        at = end + 1;
    }
    std::string out;
    for (const auto& p : parts) out += "/" + p;
    return out.empty() ? "/" : out;
}

// The caller's own /proc entries, named as `[open]` rules name them; empty for other paths.
std::string as_proc_self(const std::string& lex) {
    for (std::string prefix : {"/proc/thread-self", "/proc/self", "/dev/fd"}) {
        if (lex != prefix && !lex.starts_with(prefix + "/")) continue;
        return (prefix == "/dev/fd" ? "/proc/self/fd" : "/proc/self") + lex.substr(prefix.size());
    }
    return "";
}

// The real path `path` reaches for the caller, inside its root: resolved by the kernel from
// outside (through /proc/PID/root, symlinks kept inside), or the parent's real path and the
// name when it does not exist.
std::string real_path(pid_t pid, int dirfd, const std::string& path, bool follow) {
    if (path.empty()) return "";
    const std::string proc = "/proc/" + std::to_string(pid);
    std::string abs = path;
    if (path[0] != '/') {
        std::string base = link_of(proc + (dirfd == AT_FDCWD ? "/cwd" : "/fd/" + std::to_string(dirfd)));
        if (base.empty() || base[0] != '/') return "";
        abs = base + "/" + path;
    }
    std::string lex = lexical(abs);
    if (auto self = as_proc_self(lex); !self.empty()) return self;
    kernel::Fd root(::open((proc + "/root").c_str(), O_PATH | O_CLOEXEC));
    if (!root) return lex;
    const uint64_t in_root = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    kernel::Fd fd(kernel::openat2(root.get(), abs.c_str(), O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW), in_root));
    if (fd) return link_of("/proc/self/fd/" + std::to_string(fd.get()));
    size_t slash = lex.rfind('/');
    std::string dir = slash == 0 ? "/" : lex.substr(0, slash), name = lex.substr(slash + 1);
    kernel::Fd parent(kernel::openat2(root.get(), dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, in_root));
    if (!parent) return lex;
    // A link into the caller's own /proc (/dev/stdin): its target names it.
    char target[4096];
    ssize_t n = ::readlinkat(parent.get(), name.c_str(), target, sizeof(target));
    if (n > 0 && target[0] == '/') {
        if (auto self = as_proc_self(lexical(std::string(target, static_cast<size_t>(n)))); !self.empty()) return self;
    }
    std::string d = link_of("/proc/self/fd/" + std::to_string(parent.get()));
    return (d == "/" ? "" : d) + "/" + name;
}

std::string address_text(pid_t pid, uint64_t addr, uint64_t len) {
    sockaddr_storage ss{};
    size_t size = std::min<uint64_t>(len, sizeof(ss));
    if (!addr || size < sizeof(sa_family_t)) return "";
    if (kernel::read_process_memory(pid, addr, reinterpret_cast<char*>(&ss), size, false)) return "";
    char text[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET && size >= sizeof(sockaddr_in)) {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
        return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (ss.ss_family == AF_INET6 && size >= sizeof(sockaddr_in6)) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
        return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    if (ss.ss_family == AF_UNIX && size > sizeof(sa_family_t)) {
        auto* un = reinterpret_cast<sockaddr_un*>(&ss);
        size_t plen = size - sizeof(sa_family_t);
        if (un->sun_path[0] == '\0') return "unix:@" + std::string(un->sun_path + 1, plen - 1);
        return "unix:" + std::string(un->sun_path, strnlen(un->sun_path, plen));
    }
    return "";
}

}  // namespace

bool learn_records(const std::string& s) {
    return s == "open" || s == "openat" || s == "openat2" || s == "creat" || s == "connect" || s == "bind" || s == "sendto";
}

void record_pointers(const seccomp_notif& n, const std::string& syscall, Outcome& out) {
    const pid_t pid = static_cast<pid_t>(n.pid);
    const auto* a = n.data.args;
    if (syscall == "connect" || syscall == "bind" || syscall == "sendto") {
        std::string text = syscall == "sendto" ? address_text(pid, a[4], a[5]) : address_text(pid, a[1], a[2]);
        auto& into = syscall == "bind" ? out.binds_seen : out.connects_seen;
        if (!text.empty() && into.size() < kMaxAddresses) into.insert(text);
        return;
    }
    OpenCall call;
    if (read_open_call(pid, syscall, a, call)) return;
    const uint64_t flags = call.flags;
    std::vector<char> path(4096);
    if (kernel::read_process_memory(pid, call.path, path.data(), path.size(), true)) return;
    const bool follow = !(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL));
    std::string real = real_path(pid, call.dirfd, path.data(), follow);
    if (real.empty() || (out.paths_seen.size() >= kMaxPaths && !out.paths_seen.count(real))) return;
    const bool writes = path_rules::open_writes(flags);
    out.paths_seen[real] |= writes ? Outcome::kPathWrite | ((flags & O_CREAT) ? Outcome::kPathCreate : 0u) : Outcome::kPathRead;
}

}  // namespace caisson::run
