#include "run/opener.hpp"

#include "kernel/fd.hpp"
#include "policy/path_rules.hpp"
#include "run/channel.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

namespace caisson::run::opener {
namespace {

using kernel::Fd;

constexpr int kMaxHops = 40;  // the kernel's MAXSYMLINKS
constexpr uint64_t kResolveKnown = RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

Fd reopen_dir(int dirfd, const char* name, bool follow = false) {
    return Fd(::openat(dirfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)));
}

bool identity(int fd, const char* name, int flags, struct statx& st) {
    return ::statx(fd, name, flags, STATX_TYPE | STATX_INO | STATX_MNT_ID, &st) == 0;
}

bool same(const struct statx& a, const struct statx& b) {
    return a.stx_ino == b.stx_ino && a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor;
}

bool on_procfs(int fd) {
    struct statfs s{};
    return ::fstatfs(fd, &s) == 0 && s.f_type == PROC_SUPER_MAGIC;
}

// The path still to walk, consumed from the front; a symlink's target is put in front of
// what remains of it.
class Remaining {
public:
    explicit Remaining(const char* path) { len_ = std::strlen(path); std::memcpy(buf_, path, len_); }
    bool absolute() const { return len_ > 0 && buf_[pos_] == '/'; }
    // The next name ("" at the end); `last` when only slashes and "." follow it, and
    // `dir` when something (a slash) does: the result must then be a directory.
    std::string_view next(bool& last, bool& dir) {
        skip();
        size_t start = pos_;
        while (pos_ < len_ && buf_[pos_] != '/') ++pos_;
        std::string_view name(buf_ + start, pos_ - start);
        size_t after = pos_;
        skip();
        last = pos_ == len_;
        dir = last && after < len_;
        return name;
    }
    // Replaces what was consumed with `target`; `dir` keeps a trailing slash that followed
    // the link. False when the result is too long.
    bool splice(std::string_view target, bool dir) {
        size_t rest = len_ - pos_;
        size_t sep = (rest > 0 || dir) ? 1 : 0;
        if (target.size() + sep + rest > sizeof(buf_)) return false;
        std::memmove(buf_ + target.size() + sep, buf_ + pos_, rest);
        std::memcpy(buf_, target.data(), target.size());
        if (sep) buf_[target.size()] = '/';
        len_ = target.size() + sep + rest;
        pos_ = 0;
        return true;
    }

private:
    void skip() {
        for (;;) {
            while (pos_ < len_ && buf_[pos_] == '/') ++pos_;
            // "." names nothing; ".." does and is returned.
            if (pos_ < len_ && buf_[pos_] == '.' && (pos_ + 1 == len_ || buf_[pos_ + 1] == '/')) ++pos_;
            else return;
        }
    }
    char buf_[2 * kPathMax];
    size_t len_ = 0, pos_ = 0;
};

class Walk {
public:
    Walk(const Request& req, int root, int dir) : req_(req), root_(root), dir_(dir) {}

    // Resolves, decides and opens; fills `rep` and, when opened, `out`.
    void run(const seccomp::OpenRules& rules, Reply& rep, Fd& out) {
        int err = resolve(rep);
        if (err == -1) return;  // rep is set (NeedCaller)
        if (err) return fail(rep, err);
        if (!real_path(rep)) return;
        bool writes = path_rules::open_writes(req_.flags);
        auto v = path_rules::decide(rules, rep.path, writes);
        rep.rule = v.rule;
        rep.decided = 1;
        if (v.action.kind != seccomp::ActionKind::Allow) {
            rep.outcome = Outcome::Refused;
            rep.kill = v.action.kind == seccomp::ActionKind::KillProcess;
            rep.err = v.action.value;
            return;
        }
        if (missing_) return fail(rep, ENOENT);
        if (must_dir_ && exists_ && !S_ISDIR(st_.stx_mode) && !S_ISLNK(st_.stx_mode)) return fail(rep, ENOTDIR);
        if (req_.flags & (O_CREAT | __O_TMPFILE)) ::umask(req_.umask);
        // The name is looked up once more, without following: a symlink put there since is
        // refused (ELOOP), never followed.
        const char* name = name_[0] ? name_ : ".";
        uint64_t flags = req_.flags | O_CLOEXEC | (name_[0] && !magic_ ? O_NOFOLLOW : 0);
        int fd;
        if (req_.call == Call::Openat2) {
            open_how how{};
            how.flags = flags;
            how.mode = req_.mode;
            fd = static_cast<int>(::syscall(SYS_openat2, cur_.get(), name, &how, sizeof(how)));
        } else {
            fd = ::openat(cur_.get(), name, static_cast<int>(flags), static_cast<mode_t>(req_.mode));
        }
        if (fd < 0) return fail(rep, errno);
        out.reset(fd);
        rep.outcome = Outcome::Opened;
    }

private:
    static void fail(Reply& rep, int err) {
        rep.outcome = Outcome::Failed;
        rep.err = err;
    }

    // Walks to the directory holding the last name (cur_, name_); 0, an errno, or -1 when
    // the caller's pid is needed first.
    int resolve(Reply& rep) {
        const uint64_t res = req_.resolve;
        if (res & RESOLVE_CACHED) return EAGAIN;  // never answered from the cache alone: the caller retries
        if (res & ~(kResolveKnown | RESOLVE_CACHED)) return EINVAL;
        if (!req_.path[0]) return ENOENT;
        const bool follow_last = !(req_.flags & O_NOFOLLOW) && !((req_.flags & O_CREAT) && (req_.flags & O_EXCL));
        // Where "/" is, and where ".." stops.
        const int anchor = (res & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) ? dir_ : root_;
        if (anchor < 0) return EBADF;
        struct statx anchor_id{}, start_id{};
        bool anchor_known = false;
        Remaining rest(req_.path);
        if (rest.absolute() && (res & RESOLVE_BENEATH)) return EXDEV;
        cur_ = reopen_dir(rest.absolute() ? anchor : dir_, ".");
        if (!cur_) return errno;
        if ((res & RESOLVE_NO_XDEV) && !identity(cur_.get(), "", AT_EMPTY_PATH, start_id)) return errno;
        int hops = 0;
        for (;;) {
            bool last = false, dir = false;
            std::string_view name = rest.next(last, dir);
            if (name.empty()) {  // the path ends on a directory: "/", "a/.."
                name_[0] = '\0';
                must_dir_ = true;
                return 0;
            }
            if (name.size() >= sizeof(name_)) return ENAMETOOLONG;
            std::memcpy(name_, name.data(), name.size());
            name_[name.size()] = '\0';
            if (name == "..") {
                struct statx here{};
                if (!anchor_known && !identity(anchor, "", AT_EMPTY_PATH, anchor_id)) return errno;
                anchor_known = true;
                if (!identity(cur_.get(), "", AT_EMPTY_PATH, here)) return errno;
                if (same(here, anchor_id)) {
                    if (res & RESOLVE_BENEATH) return EXDEV;
                    // The root's parent is the root.
                } else {
                    cur_ = reopen_dir(cur_.get(), "..");
                    if (!cur_) return errno;
                }
                if (last) {
                    name_[0] = '\0';
                    must_dir_ = true;
                    return 0;
                }
                continue;
            }
            if (!last && !(res & RESOLVE_NO_XDEV)) {
                // Most names on the way are plain directories: one call opens them, and only
                // a refusal (a symlink, not a directory) needs a closer look.
                Fd next = reopen_dir(cur_.get(), name_);
                if (next) {
                    cur_ = std::move(next);
                    continue;
                }
                if (errno != ENOTDIR && errno != ELOOP) return errno;
            }
            if (!identity(cur_.get(), name_, AT_SYMLINK_NOFOLLOW, st_)) {
                // A name that is not there is decided too (a refusal must not tell whether
                // the file exists), then created or reported missing.
                if (errno == ENOENT && last) {
                    missing_ = !(req_.flags & O_CREAT) || dir;
                    return 0;
                }
                return errno;
            }
            if ((res & RESOLVE_NO_XDEV) && st_.stx_mnt_id != start_id.stx_mnt_id) return EXDEV;
            if (S_ISLNK(st_.stx_mode) && (!last || follow_last || dir)) {
                if (res & RESOLVE_NO_SYMLINKS) return ELOOP;
                if (++hops > kMaxHops) return ELOOP;
                char target[kPathMax];
                ssize_t n;
                const bool proc = on_procfs(cur_.get());
                struct statx here{};
                const bool proc_root = proc && identity(cur_.get(), "", AT_EMPTY_PATH, here) && here.stx_ino == 1;
                if (proc_root && (name == "self" || name == "thread-self")) {
                    // Resolved for the caller, not for this process.
                    if (!req_.tgid) return need_caller(rep);
                    n = name == "self" ? std::snprintf(target, sizeof(target), "%d", req_.tgid)
                                       : std::snprintf(target, sizeof(target), "%d/task/%d", req_.tgid, req_.tid);
                } else if (proc && !proc_root) {
                    // A magic link (/proc/PID/fd/N, cwd, root, exe): the kernel follows it
                    // to the object itself, which may have no path at all.
                    if (res & RESOLVE_NO_MAGICLINKS) return ELOOP;
                    if (last && !dir) {
                        magic_ = true;
                        exists_ = true;
                        return 0;
                    }
                    cur_ = reopen_dir(cur_.get(), name_, /*follow=*/true);
                    if (!cur_) return errno;
                    continue;
                } else {
                    n = ::readlinkat(cur_.get(), name_, target, sizeof(target));
                    if (n < 0) return errno;
                    if (static_cast<size_t>(n) >= sizeof(target)) return ENAMETOOLONG;
                }
                std::string_view t(target, static_cast<size_t>(n));
                if (!rest.splice(t, dir)) return ENAMETOOLONG;
                if (rest.absolute()) {
                    if (res & RESOLVE_BENEATH) return EXDEV;
                    cur_ = reopen_dir(anchor, ".");
                    if (!cur_) return errno;
                }
                continue;
            }
            if (last) {
                exists_ = true;
                must_dir_ = dir;
                return 0;
            }
            if (!S_ISDIR(st_.stx_mode)) return ENOTDIR;
            cur_ = reopen_dir(cur_.get(), name_);
            if (!cur_) return errno;
        }
    }

    int need_caller(Reply& rep) {
        rep.outcome = Outcome::NeedCaller;
        return -1;
    }

    // The real path of cur_/name_, from the sandbox's root; the caller's /proc/PID is
    // written /proc/self, as rules name it.
    bool real_path(Reply& rep) {
        char dir[kPathMax];
        if (::fchdir(cur_.get()) < 0) return fail(rep, errno), false;
        if (!::getcwd(dir, sizeof(dir)) || dir[0] != '/') return fail(rep, EACCES), false;  // not below our root
        std::string_view d(dir);
        char pid_prefix[32] = "";
        if (d.starts_with("/proc/") && d.size() > 6 && d[6] >= '0' && d[6] <= '9') {
            if (!req_.tgid) return need_caller(rep), false;
            std::snprintf(pid_prefix, sizeof(pid_prefix), "/proc/%d", req_.tgid);
            std::string_view p(pid_prefix);
            if (d.starts_with(p) && (d.size() == p.size() || d[p.size()] == '/')) d = d.substr(p.size());
            else pid_prefix[0] = '\0';
        }
        int n = std::snprintf(rep.path, sizeof(rep.path), "%s%.*s%s%s", pid_prefix[0] ? "/proc/self" : "",
                              static_cast<int>(d.size()), d.data(), (d == "/" || !name_[0]) ? "" : "/", name_);
        if (n < 0 || static_cast<size_t>(n) >= sizeof(rep.path)) return fail(rep, ENAMETOOLONG), false;
        return true;
    }

    const Request& req_;
    int root_, dir_;
    Fd cur_;
    char name_[256] = {};
    struct statx st_{};
    bool exists_ = false, must_dir_ = false, magic_ = false, missing_ = false;
};

}  // namespace

void serve(int sock, const seccomp::OpenRules& rules) {
    Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    // Requests are large: kept off the stack. (This process is a copy of the supervisor's
    // single-threaded memory: the heap is usable.)
    auto req_storage = std::make_unique<Request>();
    auto rep_storage = std::make_unique<Reply>();
    Request& req = *req_storage;
    Reply& rep = *rep_storage;
    for (;;) {
        int fds[1] = {-1};
        size_t nfds = 1;
        if (recv_packet(sock, &req, sizeof(req), fds, &nfds) <= 0) ::_exit(0);
        Fd dir(nfds ? fds[0] : -1);
        req.path[kPathMax - 1] = '\0';
        rep = Reply{};
        rep.seq = req.seq;
        Fd opened;
        Walk(req, root.get(), dir.get()).run(rules, rep, opened);
        int out = opened.get();
        if (!send_packet(sock, &rep, sizeof(rep), out >= 0 ? &out : nullptr, out >= 0 ? 1 : 0)) ::_exit(0);
    }
}

}  // namespace caisson::run::opener
