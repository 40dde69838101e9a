#include "oci/state.hpp"

#include "oci/spec.hpp"

#include <caisson/error.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace caisson::oci {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Field 3 (state) and 22 (start time) of /proc/PID/stat.
bool stat_fields(pid_t pid, char& state, std::string& start) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) return false;
    std::istringstream in(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22 && in >> field; ++i) {
        if (i == 3) state = field[0];
        if (i == 22) start = field;
    }
    return !start.empty();
}

}  // namespace

const char* status_name(Status s) {
    switch (s) {
    case Status::Creating: return "creating";
    case Status::Created: return "created";
    case Status::Running: return "running";
    case Status::Paused: return "paused";
    case Status::Stopped: return "stopped";
    }
    return "unknown";
}

void check_id(const std::string& id) {
    bool ok = !id.empty() && id != "." && id != ".." && id.size() <= 1024;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '.')) ok = false;
    if (!ok) throw Error::usage("invalid container id format: " + id);
}

std::string process_start_time(pid_t pid) {
    char state = 0;
    std::string start;
    return stat_fields(pid, state, start) ? start : std::string();
}

bool process_is(pid_t pid, const std::string& start) {
    char state = 0;
    std::string now;
    if (pid <= 0 || !stat_fields(pid, state, now)) return false;
    return now == start && state != 'Z' && state != 'X';
}

std::string rfc3339_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    ::gmtime_r(&ts.tv_sec, &t);
    char buf[64];
    size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &t);
    std::snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
    return buf;
}

nlohmann::json state_json(const ContainerState& s, Status status) {
    nlohmann::json j = {{"ociVersion", kSpecVersion},
                        {"id", s.id},
                        {"pid", status == Status::Stopped ? 0 : s.pid},
                        {"status", status_name(status)},
                        {"bundle", s.bundle},
                        {"rootfs", s.rootfs},
                        {"created", s.created},
                        {"owner", s.owner}};
    j["annotations"] = s.annotations;
    return j;
}

namespace {

// An absolute path of directory names: "." and empty names are dropped, ".." is refused (it
// would be resolved against a name that may not exist yet), and "/" names no root of its own.
std::string lexical_root(const std::string& given) {
    if (given.empty() || given[0] != '/') throw Error::usage("--root must be an absolute path: '" + given + "'");
    std::string out;
    for (size_t at = 1; at <= given.size();) {
        size_t end = given.find('/', at);
        if (end == std::string::npos) end = given.size();
        const std::string part = given.substr(at, end - at);
        if (part == "..") throw Error::usage("--root " + given + ": '..' is not taken; name the directory itself");
        if (!part.empty() && part != ".") out += "/" + part;
        at = end + 1;
    }
    if (out.empty()) throw Error::usage("--root " + given + ": / is the host's own; name a directory for the state alone");
    return out;
}

// The root itself: a directory of this user's that no one else may write, not a symlink.
void check_leaf(const std::string& root, const std::string& path) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) < 0) throw Error(ErrorKind::Setup, "stat state root", path, errno);
    char why[96] = "";
    if (S_ISLNK(st.st_mode)) std::snprintf(why, sizeof(why), "it is a symlink");
    else if (!S_ISDIR(st.st_mode)) std::snprintf(why, sizeof(why), "it is not a directory");
    else if (st.st_uid != ::geteuid()) std::snprintf(why, sizeof(why), "it belongs to uid %u", static_cast<unsigned>(st.st_uid));
    else if (st.st_mode & 022) std::snprintf(why, sizeof(why), "its mode %04o lets others write", st.st_mode & 07777);
    if (why[0])
        throw Error(ErrorKind::Setup, "state root",
                    root + " (--root) must be a directory of uid " + std::to_string(::geteuid()) +
                        " that no one else may write, not a symlink: " + (path == root ? "" : path + ": ") + why,
                    EPERM);
}

}  // namespace

std::string check_root(const std::string& given, bool* present) {
    const std::string root = lexical_root(given);
    // What is in the root decides whom a later command signals, which hooks `delete` runs as
    // this user, which cgroups it removes and which directory it empties: a root another user
    // could write (or a symlink to one) would let that user choose. A missing root is made by
    // create(), as this user's alone, and is used by no other command.
    struct stat st{};
    const bool exists = ::lstat(root.c_str(), &st) == 0;
    if (!exists && errno != ENOENT) throw Error(ErrorKind::Setup, "stat state root", root, errno);
    if (exists) check_leaf(root, root);
    // And every directory above it, as the kernel resolves them: the root is named by its path
    // in every later step, and whoever may rename a directory on the way (its owner, or anyone
    // where its parent is writable and not sticky) could swap in one of their own between two
    // steps (an attack run had `delete` run a poststop hook of theirs as root, exchanging the
    // parent it owned). The path found is the one used from then on.
    std::string existing = root, rest;  // what exists, and the missing part ("/a/b")
    while (::lstat(existing.c_str(), &st) != 0) {
        if (errno != ENOENT) throw Error(ErrorKind::Setup, "stat state root", existing, errno);
        const size_t cut = existing.rfind('/');
        rest = existing.substr(cut) + rest;
        existing = cut == 0 ? "/" : existing.substr(0, cut);
    }
    // The way as named, too: a link on it belongs to root or this user, or another user would
    // choose which directory of root's the commands use (a review pointed one at /etc).
    for (size_t at = existing.find('/', 1); at != std::string::npos || existing != "/";) {
        const std::string prefix = at == std::string::npos ? existing : existing.substr(0, at);
        if (::lstat(prefix.c_str(), &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid != 0 && st.st_uid != ::geteuid())
            throw Error(ErrorKind::Setup, "state root",
                        root + " (--root) leads through " + prefix + ", a link of uid " + std::to_string(st.st_uid) +
                            "'s: name the directory itself",
                        EPERM);
        if (at == std::string::npos) break;
        at = existing.find('/', at + 1);
    }
    char real[PATH_MAX];
    if (!::realpath(existing.c_str(), real)) throw Error(ErrorKind::Setup, "resolve state root", existing, errno);
    const std::string resolved = real;
    if (exists) {
        // What it resolves to now, which a link above it decides: the same rule (a review
        // flipped such a link between the two looks).
        if (resolved == "/") throw Error::usage("--root " + given + ": leads to /, the host's own; name a directory for the state alone");
        check_leaf(root, resolved);
    }
    for (std::string dir = resolved;;) {
        if (exists && dir == resolved) {
            dir.erase(std::max<size_t>(dir.rfind('/'), 1));
            continue;
        }
        if (::stat(dir.c_str(), &st) < 0) throw Error(ErrorKind::Setup, "stat state root", dir, errno);
        const bool owner_ok = st.st_uid == 0 || st.st_uid == ::geteuid();
        const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX);
        if (!S_ISDIR(st.st_mode) || !owner_ok || others_write) {
            char mode[8];
            std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
            throw Error(ErrorKind::Setup, "state root",
                        root + " (--root): " + dir + " above it must be a directory of root's or uid " + std::to_string(::geteuid()) +
                            " that no one else may write, or sticky (owner " + std::to_string(st.st_uid) + ", mode " + mode + ")",
                        EPERM);
        }
        if (dir == "/") break;
        dir.erase(std::max<size_t>(dir.rfind('/'), 1));
    }
    if (present) *present = exists;
    return resolved == "/" ? rest : resolved + rest;
}

StateDir::StateDir(std::string root, std::string id) : root_(std::move(root)), id_(std::move(id)) {
    check_id(id_);
    root_ = check_root(root_, &present_);
    path_ = root_ + "/" + id_;
}

bool StateDir::exists() const {
    // A root that was missing when checked holds nothing of ours, whatever is there now.
    if (!present_) return false;
    struct stat st{};
    return ::lstat((path_ + "/state.json").c_str(), &st) == 0;
}

void StateDir::create() {
    // Like `mkdir -p`: containerd names a root under a directory that may not exist yet.
    for (size_t at = root_.find('/', 1);; at = root_.find('/', at + 1)) {
        std::string part = root_.substr(0, at);
        if (::mkdir(part.c_str(), 0700) < 0 && errno != EEXIST) throw Error(ErrorKind::Setup, "create state root", part, errno);
        if (at == std::string::npos) break;
    }
    // As made, or as it was: the root checked again before it is used.
    bool made = false;
    if (const std::string now = check_root(root_, &made); now != root_ || !made)
        throw Error(ErrorKind::Setup, "state root", root_ + " (--root) resolves to " + now + " since it was made", EAGAIN);
    present_ = true;
    if (::mkdir(path_.c_str(), 0700) < 0) {
        if (errno == EEXIST) throw Error::usage("container with id exists: " + id_);
        throw Error(ErrorKind::Setup, "create state directory", path_, errno);
    }
    lock();
}

void StateDir::lock() {
    if (!present_) throw Error::usage("container " + id_ + " does not exist");
    lock_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!lock_) {
        if (errno == ENOENT) throw Error::usage("container " + id_ + " does not exist");
        throw Error(ErrorKind::Setup, "open state directory", path_, errno);
    }
    // Made by this user alone (create's mkdir, mode 0700), whoever else could reach the root.
    struct stat st{};
    if (::fstat(lock_.get(), &st) < 0) throw Error(ErrorKind::Setup, "stat state directory", path_, errno);
    if (st.st_uid != ::geteuid() || (st.st_mode & 022))
        throw Error(ErrorKind::Setup, "state directory", path_ + " is not this user's alone (owner " + std::to_string(st.st_uid) + ")", EPERM);
    while (::flock(lock_.get(), LOCK_EX) < 0)
        if (errno != EINTR) throw Error(ErrorKind::Setup, "lock state directory", path_, errno);
}

ContainerState StateDir::load() const {
    if (!present_) throw Error::usage("container " + id_ + " does not exist");
    std::ifstream in(path_ + "/state.json");
    if (!in) throw Error::usage("container " + id_ + " does not exist");
    nlohmann::json j;
    try {
        in >> j;
    } catch (const std::exception& e) {
        throw Error::usage("container " + id_ + ": corrupt state file " + path_ + "/state.json");
    }
    ContainerState s;
    s.id = j.value("id", id_);
    s.bundle = j.value("bundle", "");
    s.rootfs = j.value("rootfs", "");
    s.created = j.value("created", "");
    s.owner = j.value("owner", "");
    s.pid = j.value("pid", 0);
    s.pid_start = j.value("pid_start", "");
    s.monitor_pid = j.value("monitor_pid", 0);
    s.monitor_start = j.value("monitor_start", "");
    s.annotations = j.value("annotations", std::map<std::string, std::string>{});
    s.cgroup_parent = j.value("cgroup_parent", "");
    s.cgroup_name = j.value("cgroup_name", "");
    s.cgroup_shared_parent = j.value("cgroup_shared_parent", false);
    s.config = j.value("config", nlohmann::json::object());
    return s;
}

void StateDir::save(const ContainerState& s) const {
    nlohmann::json j = {{"id", s.id}, {"bundle", s.bundle}, {"rootfs", s.rootfs}, {"created", s.created},
                        {"owner", s.owner}, {"pid", s.pid}, {"pid_start", s.pid_start}, {"annotations", s.annotations},
                        {"cgroup_parent", s.cgroup_parent}, {"cgroup_name", s.cgroup_name},
                        {"cgroup_shared_parent", s.cgroup_shared_parent}, {"config", s.config}};
    if (s.monitor_pid) j["monitor_pid"] = s.monitor_pid, j["monitor_start"] = s.monitor_start;
    std::string tmp = path_ + "/state.json.tmp", text = j.dump();
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) throw Error(ErrorKind::Setup, "write state", tmp, errno);
    ssize_t n = ::write(fd, text.data(), text.size());
    int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size())) throw Error(ErrorKind::Setup, "write state", tmp, n < 0 ? err : EIO);
    if (::rename(tmp.c_str(), (path_ + "/state.json").c_str()) < 0) throw Error(ErrorKind::Setup, "rename state", tmp, errno);
}

void StateDir::remove() const {
    if (!present_) return;
    // The directory itself, never what a symlink in its place leads to.
    int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return;
    if (fd < 0) throw Error(ErrorKind::Setup, "open state directory", path_, errno);
    DIR* d = ::fdopendir(fd);
    if (!d) {
        int err = errno;
        ::close(fd);
        throw Error(ErrorKind::Setup, "read state directory", path_, err);
    }
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") ::unlinkat(::dirfd(d), n.c_str(), 0);
    }
    ::closedir(d);
    if (::rmdir(path_.c_str()) < 0 && errno != ENOENT) throw Error(ErrorKind::Setup, "remove state directory", path_, errno);
}

Status StateDir::status(const ContainerState& s, bool frozen) const {
    if (!process_is(s.pid, s.pid_start)) return Status::Stopped;
    struct stat st{};
    if (::lstat((path_ + "/" + kStartSocket).c_str(), &st) == 0) return Status::Created;
    return frozen ? Status::Paused : Status::Running;
}

}  // namespace caisson::oci
