#include "run/path_broker.hpp"

#include "filter/constants.hpp"
#include "kernel/notify.hpp"
#include "kernel/process_memory.hpp"
#include "run/channel.hpp"
#include "run/open_call.hpp"
#include "run/opener.hpp"
#include "policy/supervision.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace caisson::run {
namespace {

using opener::Outcome;

// How long an open may wait for the opener. It only stalls when the sandbox stopped it:
// the sandbox then waits on itself, and the open fails.
constexpr int kOpenerTimeoutMs = 5000;
constexpr int kOpenerSendTimeoutMs = 100;

// The caller as its sandbox sees it (the last NStgid and NSpid fields), and its umask.
bool read_caller(pid_t pid, opener::Request& req) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    bool tgid = false, tid = false, mask = false;
    while (std::getline(in, line)) {
        auto last_number = [&](const char* key, auto& out) {
            if (!line.starts_with(key)) return false;
            std::istringstream fields(line.substr(std::strlen(key)));
            long v = -1, x;
            while (fields >> x) v = x;
            if (v < 0) return false;
            out = static_cast<std::remove_reference_t<decltype(out)>>(v);
            return true;
        };
        tgid |= last_number("NStgid:", req.tgid);
        tid |= last_number("NSpid:", req.tid);
        if (line.starts_with("Umask:")) mask = (std::istringstream(line.substr(6)) >> std::oct >> req.umask) ? true : mask;
    }
    return tgid && tid && mask;
}

// Where a call's names are in the caller's memory, and what else it says.
struct Names {
    opener::Call call = opener::Call::Openat;
    int dirfd = AT_FDCWD, dirfd2 = AT_FDCWD;
    uint64_t path = 0, path2 = 0;  // path2 = 0: a call of one name
    bool path_is_text = false;     // symlink's target: never looked up
    uint64_t flags = 0, mode = 0, resolve = 0, arg = 0;
};

// 0, or the errno the kernel would answer.
int read_names(pid_t pid, std::string_view s, const __u64 a[6], Names& n) {
    using opener::Call;
    auto at = [](uint64_t v) { return static_cast<int>(v); };
    if (s == "open" || s == "openat" || s == "openat2" || s == "creat") {
        OpenCall call;
        if (int err = read_open_call(pid, s, a, call)) return err;
        n.call = call.openat2 ? Call::Openat2 : Call::Openat;
        n.dirfd = call.dirfd;
        n.path = call.path;
        n.flags = call.flags;
        n.mode = call.mode;
        n.resolve = call.resolve;
    } else if (s == "link" || s == "rename") {
        n.call = s == "link" ? Call::Link : Call::Rename;
        n.path = a[0], n.path2 = a[1];
    } else if (s == "linkat" || s == "renameat" || s == "renameat2") {
        n.call = s == "linkat" ? Call::Link : Call::Rename;
        n.dirfd = at(a[0]), n.path = a[1], n.dirfd2 = at(a[2]), n.path2 = a[3];
        n.flags = s == "renameat" ? 0 : static_cast<uint32_t>(a[4]);
        if (s == "linkat" && (n.flags & ~static_cast<uint64_t>(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))) return EINVAL;
    } else if (s == "symlink" || s == "symlinkat") {
        n.call = Call::Symlink;
        n.path = a[0], n.path_is_text = true;
        if (s == "symlink") n.path2 = a[1];
        else n.dirfd2 = at(a[1]), n.path2 = a[2];
    } else if (s == "mkdir" || s == "mknod") {
        n.call = s == "mkdir" ? Call::Mkdir : Call::Mknod;
        n.path = a[0], n.mode = a[1], n.arg = a[2];
    } else if (s == "mkdirat" || s == "mknodat") {
        n.call = s == "mkdirat" ? Call::Mkdir : Call::Mknod;
        n.dirfd = at(a[0]), n.path = a[1], n.mode = a[2], n.arg = a[3];
    } else if (s == "unlink" || s == "rmdir") {
        n.call = Call::Unlink;
        n.path = a[0], n.flags = s == "rmdir" ? AT_REMOVEDIR : 0;
    } else if (s == "unlinkat") {
        n.call = Call::Unlink;
        n.dirfd = at(a[0]), n.path = a[1], n.flags = static_cast<uint32_t>(a[2]);
        if (n.flags & ~static_cast<uint64_t>(AT_REMOVEDIR)) return EINVAL;
    } else if (s == "truncate") {
        n.call = Call::Truncate;
        n.path = a[0], n.arg = a[1];
    } else {
        return ENOSYS;
    }
    return 0;
}

// The directory a relative name starts from: the caller's, opened from outside (its /proc
// entries follow its descriptor table and working directory).
kernel::Fd caller_dir(pid_t pid, int dirfd) {
    std::string where = "/proc/" + std::to_string(pid) + (dirfd == AT_FDCWD ? "/cwd" : "/fd/" + std::to_string(dirfd));
    return kernel::Fd(::open(where.c_str(), O_PATH | O_CLOEXEC));
}

}  // namespace

bool PathBroker::handles(std::string_view syscall) {
    const auto& calls = supervision::path_calls();
    return std::find(calls.begin(), calls.end(), syscall) != calls.end();
}

PathBroker::PathBroker(kernel::Fd opener, const seccomp::OpenRules& rules) : opener_(std::move(opener)), rules_(rules) {
    // A receive timeout rather than a poll before each answer: one call less per open.
    timeval tv{kOpenerTimeoutMs / 1000, (kOpenerTimeoutMs % 1000) * 1000};
    if (::setsockopt(opener_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        throw Error(ErrorKind::Setup, "setsockopt SO_RCVTIMEO", "opener channel", errno);
    // And a short one for sending: the opener reads each request at once, unless the program
    // stopped it (SIGSTOP; same user) or it waits on a FIFO. Its queue then fills with the
    // requests that timed out, and a send without a timeout would hold the supervisor, and
    // with it the time limit and the signals it forwards, for as long as the program likes.
    timeval send_tv{0, kOpenerSendTimeoutMs * 1000};
    if (::setsockopt(opener_.get(), SOL_SOCKET, SO_SNDTIMEO, &send_tv, sizeof(send_tv)) < 0)
        throw Error(ErrorKind::Setup, "setsockopt SO_SNDTIMEO", "opener channel", errno);
}

PathBroker::Decision PathBroker::handle(int listener, const seccomp_notif& n, std::string_view syscall) {
    Decision d;
    auto req = std::make_unique<opener::Request>();
    auto answer_errno = [&](int err, const char* prefix) {
        d.decision = std::string(prefix) + "(" + filter::errno_name(static_cast<uint16_t>(err)) + ")";
        kernel::notify_error(listener, n.id, err);
        return d;
    };
    const pid_t pid = static_cast<pid_t>(n.pid);
    Names names;
    if (int err = read_names(pid, syscall, n.data.args, names)) return answer_errno(err, "failed");
    req->call = names.call;
    req->flags = names.flags;
    req->mode = names.mode;
    req->resolve = names.resolve;
    req->arg = names.arg;
    if (int err = kernel::read_process_memory(pid, names.path, req->path, sizeof(req->path), true)) return answer_errno(err, "failed");
    d.path = req->path;
    if (names.path2) {
        if (int err = kernel::read_process_memory(pid, names.path2, req->path2, sizeof(req->path2), true))
            return answer_errno(err, "failed");
        d.path += std::string(" -> ") + req->path2;
    }
    if (!kernel::notify_id_valid(listener, n.id)) return d;  // the caller is gone: nobody to answer
    // The directories the names start from, then re-validated.
    kernel::Fd dir, dir2;
    const bool empty_path = (req->flags & AT_EMPTY_PATH) && names.call == opener::Call::Link && !req->path[0];
    if (!names.path_is_text && (req->path[0] != '/' || (req->resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) || empty_path)) {
        dir = caller_dir(pid, names.dirfd);
        if (!dir) return answer_errno(errno == ENOENT ? EBADF : errno, "failed");
        req->has_dir = 1;
    }
    if (names.path2 && req->path2[0] != '/') {
        dir2 = caller_dir(pid, names.dirfd2);
        if (!dir2) return answer_errno(errno == ENOENT ? EBADF : errno, "failed");
        req->has_dir2 = 1;
    }
    if ((req->has_dir || req->has_dir2) && !kernel::notify_id_valid(listener, n.id)) return d;
    const bool creates = opener::creates(req->call) || (req->flags & (O_CREAT | __O_TMPFILE) && !names.path2 &&
                                                         (req->call == opener::Call::Openat || req->call == opener::Call::Openat2));
    if (creates && (!read_caller(pid, *req) || !kernel::notify_id_valid(listener, n.id))) return answer_errno(EACCES, "failed");

    auto rep = std::make_unique<opener::Reply>();
    for (int attempt = 0;; ++attempt) {
        req->seq = ++seq_;
        int fds[2];
        size_t nfds = 0;
        if (dir) fds[nfds++] = dir.get();
        if (dir2) fds[nfds++] = dir2.get();
        if (!send_packet(opener_.get(), req.get(), sizeof(*req), nfds ? fds : nullptr, nfds))
            return answer_errno(EACCES, "failed");  // the opener is gone: nothing opens
        kernel::Fd opened;
        for (;;) {
            int fds[1] = {-1};
            size_t nfds = 1;
            if (recv_packet(opener_.get(), rep.get(), sizeof(*rep), fds, &nfds) <= 0) return answer_errno(EACCES, "failed");
            opened.reset(nfds ? fds[0] : -1);
            if (rep->seq == req->seq) break;  // an older answer, late after a timeout, is dropped
        }
        if (rep->outcome == Outcome::NeedCaller && attempt == 0) {
            if (!read_caller(pid, *req) || !kernel::notify_id_valid(listener, n.id)) return answer_errno(EACCES, "failed");
            continue;
        }
        if (rep->path[0]) d.path.assign(rep->path, strnlen(rep->path, sizeof(rep->path)));
        if (rep->path2[0]) d.path += " -> " + std::string(rep->path2, strnlen(rep->path2, sizeof(rep->path2)));
        if (rep->decided)
            d.rule = rep->rule >= 0 && static_cast<size_t>(rep->rule) < rules_.rules.size()
                         ? rules_.rules[static_cast<size_t>(rep->rule)].origin
                         : "default";
        switch (rep->outcome) {
        case Outcome::Continue:
            d.decision = "allow";
            kernel::notify_continue(listener, n.id);
            return d;
        case Outcome::Done:
            d.decision = "allow";
            kernel::notify_error(listener, n.id, 0);  // the call's own answer: 0
            return d;
        case Outcome::Opened:
            d.decision = "allow";
            if (kernel::notify_addfd_send(listener, n.id, opened.get(), (req->flags & O_CLOEXEC) != 0) < 0 && errno != ENOENT)
                kernel::notify_error(listener, n.id, errno);  // EMFILE: the caller's table is full
            return d;
        case Outcome::Refused:
            if (rep->kill) {
                d.kill = true;
                d.decision = "kill-process";
                return d;
            }
            return answer_errno(rep->err, "errno");
        case Outcome::Failed:
            // Allowed, or not decided yet: what the kernel said of the path.
            return answer_errno(rep->err, d.rule.empty() ? "failed" : "allow, failed");
        case Outcome::NeedCaller:
            return answer_errno(EACCES, "failed");
        }
    }
}

}  // namespace caisson::run
