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

// One name of a call, resolved: the directory holding its last name (`cur`), that name
// (empty when the path ends on a directory), what is there, and the real path decided on.
struct Name {
    Fd cur;
    char last[256] = {};
    struct statx st{};
    bool exists = false, must_dir = false, missing = false;
    // The object behind a magic link (/proc/PID/fd/N, cwd, root, exe) that ended the path:
    // decided on what it is, and reached again through this descriptor, never by a name.
    Fd object;
    char path[kPathMax] = {};
};

// How one name is looked up.
struct Lookup {
    const char* path;
    int dir;               // the caller's directory for a relative path, or -1
    uint64_t resolve = 0;  // openat2's RESOLVE_* flags
    bool follow_last = true;
    bool creating = false;      // a missing last name is to be made
    bool creating_dir = false;  // ... and may be followed by a slash
};

// Decisions are made on the real path; "/proc/PID" of the caller is written /proc/self,
// as rules name it. 0, an errno, or -1 when the caller's pid is needed first.
class Resolver {
public:
    Resolver(const Request& req, int root) : req_(req), root_(root) {}

    int resolve(const Lookup& l, Name& n) {
        const uint64_t res = l.resolve;
        if (res & RESOLVE_CACHED) return EAGAIN;  // never answered from the cache alone: the caller retries
        if (res & ~(kResolveKnown | RESOLVE_CACHED)) return EINVAL;
        if (!l.path[0]) return ENOENT;
        // Where "/" is, and where ".." stops.
        const int anchor = (res & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) ? l.dir : root_;
        if (anchor < 0) return EBADF;
        struct statx anchor_id{}, start_id{};
        bool anchor_known = false;
        Remaining rest(l.path);
        if (rest.absolute() && (res & RESOLVE_BENEATH)) return EXDEV;
        n.cur = reopen_dir(rest.absolute() ? anchor : l.dir, ".");
        if (!n.cur) return errno;
        if ((res & RESOLVE_NO_XDEV) && !identity(n.cur.get(), "", AT_EMPTY_PATH, start_id)) return errno;
        int hops = 0;
        for (;;) {
            bool last = false, dir = false;
            std::string_view name = rest.next(last, dir);
            if (name.empty()) {  // the path ends on a directory: "/", "a/.."
                n.last[0] = '\0';
                n.must_dir = true;
                return 0;
            }
            if (name.size() >= sizeof(n.last)) return ENAMETOOLONG;
            std::memcpy(n.last, name.data(), name.size());
            n.last[name.size()] = '\0';
            if (name == "..") {
                struct statx here{};
                if (!anchor_known && !identity(anchor, "", AT_EMPTY_PATH, anchor_id)) return errno;
                anchor_known = true;
                if (!identity(n.cur.get(), "", AT_EMPTY_PATH, here)) return errno;
                if (same(here, anchor_id)) {
                    if (res & RESOLVE_BENEATH) return EXDEV;
                    // The root's parent is the root.
                } else {
                    n.cur = reopen_dir(n.cur.get(), "..");
                    if (!n.cur) return errno;
                }
                if (last) {
                    n.last[0] = '\0';
                    n.must_dir = true;
                    return 0;
                }
                continue;
            }
            if (!last && !(res & RESOLVE_NO_XDEV)) {
                // Most names on the way are plain directories: one call opens them, and only
                // a refusal (a symlink, not a directory) needs a closer look.
                Fd next = reopen_dir(n.cur.get(), n.last);
                if (next) {
                    n.cur = std::move(next);
                    continue;
                }
                if (errno != ENOTDIR && errno != ELOOP) return errno;
            }
            if (!identity(n.cur.get(), n.last, AT_SYMLINK_NOFOLLOW, n.st)) {
                // A name that is not there is decided too (a refusal must not tell whether
                // the file exists), then created or reported missing.
                if (errno == ENOENT && last) {
                    n.missing = !l.creating || (dir && !l.creating_dir);
                    return 0;
                }
                return errno;
            }
            if ((res & RESOLVE_NO_XDEV) && n.st.stx_mnt_id != start_id.stx_mnt_id) return EXDEV;
            if (S_ISLNK(n.st.stx_mode) && (!last || l.follow_last || dir)) {
                if (res & RESOLVE_NO_SYMLINKS) return ELOOP;
                if (++hops > kMaxHops) return ELOOP;
                char target[kPathMax];
                ssize_t len;
                const bool proc = on_procfs(n.cur.get());
                struct statx here{};
                const bool proc_root = proc && identity(n.cur.get(), "", AT_EMPTY_PATH, here) && here.stx_ino == 1;
                if (proc_root && (name == "self" || name == "thread-self")) {
                    // Resolved for the caller, not for this process.
                    if (!req_.tgid) return -1;
                    len = name == "self" ? std::snprintf(target, sizeof(target), "%d", req_.tgid)
                                         : std::snprintf(target, sizeof(target), "%d/task/%d", req_.tgid, req_.tid);
                } else if (proc && !proc_root) {
                    // A magic link (/proc/PID/fd/N, cwd, root, exe): the kernel follows it
                    // to the object itself, which may have no path at all.
                    if (res & RESOLVE_NO_MAGICLINKS) return ELOOP;
                    if (last && !dir) {
                        n.object.reset(::openat(n.cur.get(), n.last, O_PATH | O_CLOEXEC));
                        if (!n.object) return errno;
                        if (!identity(n.object.get(), "", AT_EMPTY_PATH, n.st)) return errno;
                        n.exists = true;
                        return 0;
                    }
                    n.cur = reopen_dir(n.cur.get(), n.last, /*follow=*/true);
                    if (!n.cur) return errno;
                    continue;
                } else {
                    len = ::readlinkat(n.cur.get(), n.last, target, sizeof(target));
                    if (len < 0) return errno;
                    if (static_cast<size_t>(len) >= sizeof(target)) return ENAMETOOLONG;
                }
                std::string_view t(target, static_cast<size_t>(len));
                if (!rest.splice(t, dir)) return ENAMETOOLONG;
                if (rest.absolute()) {
                    if (res & RESOLVE_BENEATH) return EXDEV;
                    n.cur = reopen_dir(anchor, ".");
                    if (!n.cur) return errno;
                }
                continue;
            }
            if (last) {
                n.exists = true;
                n.must_dir = dir;
                return 0;
            }
            if (!S_ISDIR(n.st.stx_mode)) return ENOTDIR;
            n.cur = reopen_dir(n.cur.get(), n.last);
            if (!n.cur) return errno;
        }
    }

    // The real path of what `n` names, into n.path. 0, an errno, or -1 (the caller's pid).
    int real_path(Name& n) {
        char dir[kPathMax];
        size_t dir_len = 0;
        const char* last = n.last;
        if (n.object) {
            const unsigned type = n.st.stx_mode & S_IFMT;
            const bool device = type == S_IFCHR || type == S_IFBLK;
            int err = (type == S_IFREG || type == S_IFDIR || device) ? object_path(n, dir, dir_len) : ENOENT;
            if (err == 0) {
                // A file reached through a magic link is decided on where it is, not on the
                // link's name: /proc/self/fd/3 of a read-only file is that file.
                last = "";
            } else if (!device && err != ENOENT) {
                return err;  // a file or directory with no path inside the root: refused
            } else {
                // A pipe, a socket or an anonymous inode has no path, nor has a device of the
                // caller's outside the root (its terminal): the link's own name decides
                // (/dev/stdin, /proc/self/fd/0).
                if (int e = cwd_of(n.cur.get(), dir, dir_len)) return e;
            }
        } else {
            if (int err = cwd_of(n.cur.get(), dir, dir_len)) return err;
        }
        std::string_view d(dir, dir_len);
        char pid_prefix[32] = "";
        if (d.starts_with("/proc/") && d.size() > 6 && d[6] >= '0' && d[6] <= '9') {
            if (!req_.tgid) return -1;
            std::snprintf(pid_prefix, sizeof(pid_prefix), "/proc/%d", req_.tgid);
            std::string_view p(pid_prefix);
            if (d.starts_with(p) && (d.size() == p.size() || d[p.size()] == '/')) d = d.substr(p.size());
            else pid_prefix[0] = '\0';
        }
        int w = std::snprintf(n.path, sizeof(n.path), "%s%.*s%s%s", pid_prefix[0] ? "/proc/self" : "",
                              static_cast<int>(d.size()), d.data(), (d == "/" || d.empty() || !last[0]) ? "" : "/", last);
        if (w < 0 || static_cast<size_t>(w) >= sizeof(n.path)) return ENAMETOOLONG;
        return 0;
    }

private:
    // The path of a directory from this process's root (the sandbox's): EACCES when it is
    // not below it.
    static int cwd_of(int dirfd, char* out, size_t& len) {
        if (::fchdir(dirfd) < 0) return errno;
        if (!::getcwd(out, kPathMax) || out[0] != '/') return EACCES;
        len = std::strlen(out);
        return 0;
    }

    // Where the object of a magic link is, as the kernel names it, checked by identity: the
    // name, looked up again inside the root, must reach that very object. A deleted file is
    // decided on the name it had (an O_TMPFILE file on its directory's).
    int object_path(const Name& n, char* out, size_t& len) {
        char link[32];
        std::snprintf(link, sizeof(link), "/proc/self/fd/%d", n.object.get());
        ssize_t got = ::readlink(link, out, kPathMax - 1);
        if (got < 0) return errno;
        if (static_cast<size_t>(got) >= kPathMax - 1) return ENAMETOOLONG;
        out[got] = '\0';
        if (out[0] != '/') return EACCES;  // no path at all
        static constexpr std::string_view kDeleted = " (deleted)";
        std::string_view text(out, static_cast<size_t>(got));
        if (text.ends_with(kDeleted) && n.st.stx_nlink == 0) {
            len = text.size() - kDeleted.size();
            out[len] = '\0';
            return 0;
        }
        struct statx again{};
        Fd there(static_cast<int>(::syscall(SYS_openat2, root_, out, &kExactly, sizeof(kExactly))));
        if (!there || !identity(there.get(), "", AT_EMPTY_PATH, again) || !same(again, n.st))
            return EACCES;  // outside the root: its name inside would be another file's
        len = static_cast<size_t>(got);
        return 0;
    }

    static constexpr open_how kExactly{O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    const Request& req_;
    int root_;
};

bool allowed(const seccomp::OpenRules& rules, const char* path, bool writes) {
    return path_rules::decide(rules, path, writes).action.kind == seccomp::ActionKind::Allow;
}

// One request: resolve each name, decide, and do what was asked to the very objects
// resolved (a name is looked up once more only without following it).
class Handler {
public:
    Handler(const Request& req, int root, int dir, int dir2, const seccomp::OpenRules& rules, Reply& rep)
        : req_(req), dir_(dir), dir2_(dir2), rules_(rules), rep_(rep), resolver_(req, root) {}

    void run(Fd& out) {
        switch (req_.call) {
            case opener::Call::Openat:
            case opener::Call::Openat2: return open(out);
            case opener::Call::Truncate: return truncate();
            case opener::Call::Unlink: return unlink();
            case opener::Call::Mkdir:
            case opener::Call::Mknod: return make();
            case opener::Call::Symlink: return symlink();
            case opener::Call::Link: return link();
            case opener::Call::Rename: return rename();
        }
        fail(ENOSYS);
    }

private:
    void fail(int err) {
        rep_.outcome = Outcome::Failed;
        rep_.err = err;
    }
    void done(int rc) {
        if (rc < 0) return fail(errno);
        rep_.outcome = Outcome::Done;
    }

    // Resolves and names `n`; false when the reply is already set.
    bool look_up(const Lookup& l, Name& n, char* reported) {
        int err = resolver_.resolve(l, n);
        if (err == 0) err = resolver_.real_path(n);
        if (err == -1) {
            rep_.outcome = Outcome::NeedCaller;
            return false;
        }
        if (err) return fail(err), false;
        std::memcpy(reported, n.path, sizeof(n.path));
        return true;
    }

    // Decides `n` for a write, or for an open with its flags; false when refused (the
    // reply says so).
    bool decide(const Name& n, bool writes) { return decide(path_rules::decide(rules_, n.path, writes)); }
    bool decide_open(const Name& n, uint64_t flags) { return decide(path_rules::decide_open(rules_, n.path, flags)); }
    bool decide(const path_rules::Verdict& v) {
        rep_.rule = v.rule;
        rep_.decided = 1;
        if (v.action.kind == seccomp::ActionKind::Allow) return true;
        rep_.outcome = Outcome::Refused;
        rep_.kill = v.action.kind == seccomp::ActionKind::KillProcess;
        rep_.err = v.action.value;
        return false;
    }

    // A name that comes to reach the file `from` reached may not give it more: EXDEV, as
    // the kernel says when a rename cannot be done in place (programs then copy, and the
    // copy's opens are decided one by one). Symlinks carry no access of their own.
    bool no_more_than(const Name& to, const Name& from) {
        if (!from.exists || S_ISLNK(from.st.stx_mode)) return true;
        for (bool writes : {false, true})
            if (allowed(rules_, to.path, writes) && !allowed(rules_, from.path, writes)) return fail(EXDEV), false;
        return true;
    }

    // The object as a descriptor: the magic link's, or the last name opened without following.
    static Fd object_of(const Name& n) {
        if (n.object) return Fd(::fcntl(n.object.get(), F_DUPFD_CLOEXEC, 0));
        return Fd(::openat(n.cur.get(), n.last[0] ? n.last : ".", O_PATH | O_NOFOLLOW | O_CLOEXEC));
    }

    static const char* proc_fd(int fd, char* buf, size_t size) {
        std::snprintf(buf, size, "/proc/self/fd/%d", fd);
        return buf;
    }

    void open(Fd& out) {
        const uint64_t flags = req_.flags;
        Name n;
        Lookup l{req_.path, dir_, req_.resolve, !(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL)),
                 (flags & O_CREAT) != 0, false};
        if (!look_up(l, n, rep_.path) || !decide_open(n, flags)) return;
        if (n.missing) return fail(ENOENT);
        if (flags & O_PATH) {
            // openat2's flags are in the caller's memory, read again by the kernel when the
            // call goes on: a thread could make this O_PATH open an O_RDWR|O_CREAT one of
            // another path. Its O_PATH descriptor cannot be installed (ADDFD takes no O_PATH
            // file), so it is not implemented here: libraries fall back to openat, whose
            // flags are in a register.
            if (req_.call == Call::Openat2) return fail(ENOSYS);
            return void(rep_.outcome = Outcome::Continue);
        }
        if (n.must_dir && n.exists && !S_ISDIR(n.st.stx_mode) && !S_ISLNK(n.st.stx_mode)) return fail(ENOTDIR);
        if (flags & (O_CREAT | __O_TMPFILE)) ::umask(req_.umask);
        open_how how{};
        how.mode = req_.mode;
        int fd;
        if (n.object) {
            // The magic link's object itself; a directory takes O_TMPFILE relative to it.
            how.flags = flags | O_CLOEXEC;
            char path[32];
            fd = (flags & __O_TMPFILE) == __O_TMPFILE
                     ? static_cast<int>(::syscall(SYS_openat2, n.object.get(), ".", &how, sizeof(how)))
                     : static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, proc_fd(n.object.get(), path, sizeof(path)), &how,
                                                  sizeof(how)));
        } else {
            // The name is looked up once more, without following: a symlink put there since
            // is refused (ELOOP), never followed.
            how.flags = flags | O_CLOEXEC | (n.last[0] ? O_NOFOLLOW : 0);
            fd = static_cast<int>(::syscall(SYS_openat2, n.cur.get(), n.last[0] ? n.last : ".", &how, sizeof(how)));
        }
        if (fd < 0) return fail(errno);
        out.reset(fd);
        rep_.outcome = Outcome::Opened;
    }

    void truncate() {
        Name n;
        if (!look_up({req_.path, dir_}, n, rep_.path) || !decide(n, true)) return;
        if (n.missing) return fail(ENOENT);
        Fd object = object_of(n);
        if (!object) return fail(errno);
        char path[32];
        done(::truncate(proc_fd(object.get(), path, sizeof(path)), static_cast<off_t>(req_.arg)));
    }

    void unlink() {
        Name n;
        Lookup l{req_.path, dir_};
        l.follow_last = false;
        if (!look_up(l, n, rep_.path) || !decide(n, true)) return;
        if (n.missing) return fail(ENOENT);
        if (!n.last[0] || n.object) return fail(req_.flags & AT_REMOVEDIR ? EBUSY : EISDIR);
        done(::unlinkat(n.cur.get(), n.last, static_cast<int>(req_.flags & AT_REMOVEDIR)));
    }

    void make() {
        Name n;
        Lookup l{req_.path, dir_};
        l.follow_last = false;
        l.creating = true;
        l.creating_dir = req_.call == opener::Call::Mkdir;
        if (!look_up(l, n, rep_.path) || !decide(n, true)) return;
        if (n.exists || !n.last[0]) return fail(EEXIST);
        ::umask(req_.umask);
        done(req_.call == opener::Call::Mkdir
                 ? ::mkdirat(n.cur.get(), n.last, static_cast<mode_t>(req_.mode))
                 : ::mknodat(n.cur.get(), n.last, static_cast<mode_t>(req_.mode), static_cast<dev_t>(req_.arg)));
    }

    void symlink() {
        Name n;
        Lookup l{req_.path2, dir2_};
        l.follow_last = false;
        l.creating = true;
        if (!look_up(l, n, rep_.path2) || !decide(n, true)) return;
        if (n.exists || !n.last[0]) return fail(EEXIST);
        // The target is text: whatever opens through the link later is decided on where
        // it leads.
        done(::symlinkat(req_.path, n.cur.get(), n.last));
    }

    void link() {
        Name from, to;
        Lookup lf{req_.path, dir_};
        lf.follow_last = (req_.flags & AT_SYMLINK_FOLLOW) != 0;
        Lookup lt{req_.path2, dir2_};
        lt.follow_last = false;
        lt.creating = true;
        if ((req_.flags & AT_EMPTY_PATH) && !req_.path[0]) {
            // The caller's descriptor itself (an O_TMPFILE file, say).
            if (dir_ < 0) return fail(EBADF);
            from.object.reset(::fcntl(dir_, F_DUPFD_CLOEXEC, 0));
            if (!from.object || !identity(from.object.get(), "", AT_EMPTY_PATH, from.st)) return fail(errno);
            from.exists = true;
            int err = resolver_.real_path(from);
            if (err == -1) return void(rep_.outcome = Outcome::NeedCaller);
            if (err) return fail(err);
            std::memcpy(rep_.path, from.path, sizeof(from.path));
        } else if (!look_up(lf, from, rep_.path)) {
            return;
        }
        if (!look_up(lt, to, rep_.path2) || !decide(to, true)) return;
        if (from.missing) return fail(ENOENT);
        if (to.exists || !to.last[0]) return fail(EEXIST);
        if (!no_more_than(to, from)) return;
        char path[32];
        if (from.object) done(::linkat(AT_FDCWD, proc_fd(from.object.get(), path, sizeof(path)), to.cur.get(), to.last, AT_SYMLINK_FOLLOW));
        else done(::linkat(from.cur.get(), from.last, to.cur.get(), to.last, 0));
    }

    void rename() {
        Name from, to;
        Lookup lf{req_.path, dir_};
        lf.follow_last = false;
        Lookup lt{req_.path2, dir2_};
        lt.follow_last = false;
        lt.creating = true;
        lt.creating_dir = true;
        if (!look_up(lf, from, rep_.path) || !decide(from, true)) return;
        if (!look_up(lt, to, rep_.path2) || !decide(to, true)) return;
        if (from.missing) return fail(ENOENT);
        if (!from.last[0] || !to.last[0] || from.object) return fail(EBUSY);
        // A directory moves every name below it, which two names cannot judge: EXDEV, and the
        // program copies (mv does), each open decided on its own.
        if (S_ISDIR(from.st.stx_mode) || (to.exists && S_ISDIR(to.st.stx_mode))) return fail(EXDEV);
        if (!no_more_than(to, from)) return;
        if ((req_.flags & RENAME_EXCHANGE) && !no_more_than(from, to)) return;
        done(static_cast<int>(::syscall(SYS_renameat2, from.cur.get(), from.last, to.cur.get(), to.last,
                                        static_cast<unsigned>(req_.flags))));
    }

    const Request& req_;
    int dir_, dir2_;
    const seccomp::OpenRules& rules_;
    Reply& rep_;
    Resolver resolver_;
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
        int fds[2] = {-1, -1};
        size_t nfds = 2;
        if (recv_packet(sock, &req, sizeof(req), fds, &nfds) <= 0) ::_exit(0);
        // The directories come in order: the first name's, then the second's.
        size_t at = 0;
        Fd dir(req.has_dir && at < nfds ? fds[at++] : -1);
        Fd dir2(req.has_dir2 && at < nfds ? fds[at++] : -1);
        req.path[kPathMax - 1] = '\0';
        req.path2[kPathMax - 1] = '\0';
        rep = Reply{};
        rep.seq = req.seq;
        Fd opened;
        Handler(req, root.get(), dir.get(), dir2.get(), rules, rep).run(opened);
        int out = opened.get();
        if (!send_packet(sock, &rep, sizeof(rep), out >= 0 ? &out : nullptr, out >= 0 ? 1 : 0)) ::_exit(0);
    }
}

}  // namespace caisson::run::opener
