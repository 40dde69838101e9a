#include "mech/idmap.hpp"

#include "kernel/fd.hpp"
#include "mech/clone.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace caisson::mech {
void write_proc_file(pid_t pid, const char* name, const std::string& text) {
    std::string path = "/proc/" + std::to_string(pid) + "/" + name;
    kernel::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw Error(ErrorKind::Setup, std::string("open ") + name, path, errno);
    ssize_t n = ::write(fd.get(), text.data(), text.size());
    if (n != static_cast<ssize_t>(text.size()))
        throw Error(ErrorKind::Setup, std::string("write ") + name, path + " <- " + text.substr(0, text.find('\n')),
                    n < 0 ? errno : EIO);
}

std::string IdMaps::uid_line() const {
    return std::to_string(inside_uid) + " " + std::to_string(host_uid) + " 1\n";
}
std::string IdMaps::gid_line() const {
    return std::to_string(inside_gid) + " " + std::to_string(host_gid) + " 1\n";
}

bool id_mapped_here(const char* map_file, uint32_t id) {
    // Unreadable is an error, not "unmapped": that would take host root for an ordinary user.
    kernel::Fd fd(::open(map_file, O_RDONLY | O_CLOEXEC));
    if (!fd) throw Error(ErrorKind::Setup, "open", map_file, errno);
    char buf[16384];  // the kernel's limit: 340 lines
    ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
    if (n < 0) throw Error(ErrorKind::Setup, "read", map_file, errno);
    if (n == 0) return false;
    buf[n] = '\0';
    // "INSIDE OUTSIDE COUNT" per line; the first column is this namespace's.
    for (char* line = buf; line && *line;) {
        unsigned long inside = 0, outside = 0, count = 0;
        if (std::sscanf(line, "%lu %lu %lu", &inside, &outside, &count) == 3 && id >= inside && id - inside < count)
            return true;
        line = std::strchr(line, '\n');
        if (line) ++line;
    }
    return false;
}

IdMaps decide_id_maps(const Identity& id, uid_t caller_uid, gid_t caller_gid) {
    IdMaps m;
    m.inside_uid = id.uid;
    m.inside_gid = id.gid;
    // Root of a user namespace that has no nobody to give (`unshare -r` maps one id) is an
    // ordinary user of the host: it maps its own ids, as one does, and says nothing else.
    const bool root_without_nobody = caller_uid == 0 && !id.map_host_root && !id.host_uid && !id.host_gid &&
                                     (!id_mapped_here("/proc/self/uid_map", kNobody) ||
                                      !id_mapped_here("/proc/self/gid_map", kNobody));
    if (caller_uid == 0 && !root_without_nobody) {
        if (id.map_host_root) {
            if (id.host_uid.value_or(0) != 0 || id.host_gid.value_or(0) != 0)
                throw Error::usage("--map-host-root conflicts with --host-uid/--host-gid");
            m.host_uid = 0;
            m.host_gid = 0;
        } else {
            m.host_uid = id.host_uid.value_or(kNobody);
            m.host_gid = id.host_gid.value_or(kNobody);
            if (m.host_uid == 0 || m.host_gid == 0)
                throw Error::usage("--host-uid/--host-gid 0 would make the host's root the sandbox's; "
                                   "say --map-host-root if that is meant");
        }
        return m;
    }
    // An ordinary user may map exactly its own ids, nothing else.
    if (id.map_host_root) throw Error::usage("--map-host-root needs the caller to be root");
    if ((id.host_uid && *id.host_uid != caller_uid) || (id.host_gid && *id.host_gid != caller_gid))
        throw Error::usage("--host-uid/--host-gid: an ordinary user can map only its own ids (" +
                           std::to_string(caller_uid) + ":" + std::to_string(caller_gid) + ")");
    m.host_uid = caller_uid;
    m.host_gid = caller_gid;
    return m;
}

void write_id_maps(pid_t pid, const std::string& uid_map, const std::string& gid_map, bool deny_setgroups) {
    if (deny_setgroups) write_proc_file(pid, "setgroups", "deny");
    write_proc_file(pid, "uid_map", uid_map);
    write_proc_file(pid, "gid_map", gid_map);
}

bool own_setgroups_allowed() {
    kernel::Fd fd(::open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC));
    char buf[16] = {};
    return fd && ::read(fd.get(), buf, sizeof(buf) - 1) > 0 && std::string_view(buf).starts_with("allow");
}

void write_id_maps(pid_t pid, const IdMaps& maps, bool deny_setgroups) {
    write_id_maps(pid, maps.uid_line(), maps.gid_line(), deny_setgroups);
}

namespace {

// A child that holds a namespace for as long as it is needed: killed and reaped on the way out.
struct ChildReaper {
    pid_t pid;
    ~ChildReaper() {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
};

}  // namespace

kernel::Fd make_mapped_userns(const std::string& uid_map, const std::string& gid_map) {
    // The child waits for end-of-file on a pipe: it holds the namespace until it is opened.
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) throw Error(ErrorKind::Setup, "pipe", "idmap user namespace", errno);
    kernel::Fd rd(p[0]), wr(p[1]);
    CloneRequest request;
    request.flags = CLONE_NEWUSER;
    request.want_pidfd = false;
    Cloned child;
    if (!clone_process(request, child)) throw Error(ErrorKind::Setup, "clone3", "idmap user namespace", errno);
    if (child.pid == 0) {
        ::close(wr.release());
        char c;
        while (::read(rd.get(), &c, 1) < 0 && errno == EINTR) {
        }
        ::_exit(0);
    }
    rd.reset();
    ChildReaper reaper{static_cast<pid_t>(child.pid)};
    write_id_maps(static_cast<pid_t>(child.pid), uid_map, gid_map, false);
    std::string path = "/proc/" + std::to_string(child.pid) + "/ns/user";
    kernel::Fd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) throw Error(ErrorKind::Setup, "open", path, errno);
    return ns;
}

bool map_reaches(std::string_view map, uint32_t host) {
    while (!map.empty()) {
        size_t end = map.find('\n');
        std::string line(map.substr(0, end));
        map = end == std::string_view::npos ? std::string_view{} : map.substr(end + 1);
        unsigned long long inside = 0, outside = 0, count = 0;
        if (std::sscanf(line.c_str(), "%llu %llu %llu", &inside, &outside, &count) == 3 && outside <= host &&
            host - outside < count)
            return true;
    }
    return false;
}

std::string uid_map_of(const std::string& userns_path) {
    kernel::Fd ns(::open(userns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) throw Error(ErrorKind::Usage, "open user namespace", userns_path, errno);
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) throw Error(ErrorKind::Setup, "pipe", "uid map of " + userns_path, errno);
    kernel::Fd rd(p[0]), wr(p[1]);
    // A fork joins it (setns into a user namespace wants a single thread), tells whether it
    // could by the byte it writes, and waits for end-of-file.
    int status_pipe[2];
    if (::pipe2(status_pipe, O_CLOEXEC) < 0) throw Error(ErrorKind::Setup, "pipe", "uid map of " + userns_path, errno);
    kernel::Fd status_rd(status_pipe[0]), status_wr(status_pipe[1]);
    pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorKind::Setup, "fork", "uid map of " + userns_path, errno);
    if (pid == 0) {
        ::close(wr.release());
        ::close(status_rd.release());
        // Not dumpable in there: the kernel gives the uid that made the namespace (root, as a
        // rule) CAP_SYS_PTRACE in it, and this process's root is the host's.
        int err = ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || ::setns(ns.get(), CLONE_NEWUSER) < 0 ? errno : 0;
        (void)!::write(status_wr.get(), &err, sizeof err);
        char c;
        while (::read(rd.get(), &c, 1) < 0 && errno == EINTR) {
        }
        ::_exit(0);
    }
    rd.reset();
    status_wr.reset();
    ChildReaper reaper{pid};
    int err = EIO;
    ssize_t n;
    while ((n = ::read(status_rd.get(), &err, sizeof err)) < 0 && errno == EINTR) {
    }
    if (n != sizeof err) err = EIO;
    if (err != 0) throw Error(ErrorKind::Setup, "setns", "user namespace " + userns_path, err);
    return uid_map_of_process(pid);
}

std::string uid_map_of_process(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/uid_map";
    kernel::Fd map(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!map) throw Error(ErrorKind::Setup, "open", path, errno);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(map.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    if (n < 0) throw Error(ErrorKind::Setup, "read", path, errno);
    return text;
}

bool owned_below(const std::string& ns_path, const std::string& userns_path) {
    const std::string base_path = userns_path.empty() ? "/proc/self/ns/user" : userns_path;
    struct stat base{};
    if (::stat(base_path.c_str(), &base) < 0) throw Error(ErrorKind::Usage, "stat user namespace", base_path, errno);
    kernel::Fd ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) throw Error(ErrorKind::Usage, "open namespace", ns_path, errno);
    kernel::Fd owner(::ioctl(ns.get(), NS_GET_USERNS));
    for (int depth = 0; depth < 64; ++depth) {
        // EPERM: above this process's own user namespace, without meeting the base.
        if (!owner) {
            if (errno == EPERM) return false;
            throw Error(ErrorKind::Setup, "ioctl NS_GET_USERNS", ns_path, errno);
        }
        struct stat st{};
        if (::fstat(owner.get(), &st) < 0) throw Error(ErrorKind::Setup, "fstat", ns_path + " (a user namespace above it)", errno);
        if (st.st_dev == base.st_dev && st.st_ino == base.st_ino) return depth > 0;
        owner.reset(::ioctl(owner.get(), NS_GET_PARENT));
    }
    return false;  // deeper than the kernel's 32 levels: not below the base
}

}  // namespace caisson::mech
