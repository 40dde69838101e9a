#include "run/path_broker.hpp"

#include "filter/constants.hpp"
#include "kernel/notify.hpp"
#include "kernel/process_memory.hpp"
#include "run/channel.hpp"
#include "run/open_call.hpp"
#include "run/opener.hpp"

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

}  // namespace

PathBroker::PathBroker(kernel::Fd opener, const seccomp::OpenRules& rules) : opener_(std::move(opener)), rules_(rules) {
    // A receive timeout rather than a poll before each answer: one call less per open.
    timeval tv{kOpenerTimeoutMs / 1000, (kOpenerTimeoutMs % 1000) * 1000};
    if (::setsockopt(opener_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        throw Error(ErrorKind::Setup, "setsockopt SO_RCVTIMEO", "opener channel", errno);
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
    OpenCall call;
    if (int err = read_open_call(pid, syscall, n.data.args, call)) return answer_errno(err, "failed");
    const int dirfd = call.dirfd;
    req->call = call.openat2 ? opener::Call::Openat2 : opener::Call::Openat;
    req->flags = call.flags;
    req->mode = call.mode;
    req->resolve = call.resolve;
    if (int err = kernel::read_process_memory(pid, call.path, req->path, sizeof(req->path), true)) return answer_errno(err, "failed");
    d.path = req->path;
    if (!kernel::notify_id_valid(listener, n.id)) return d;  // the caller is gone: nobody to answer
    // The directory the path starts from: the caller's, opened from outside (its /proc
    // entries follow its descriptor table and working directory), then re-validated.
    kernel::Fd dir;
    if (req->path[0] != '/' || (req->resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT))) {
        std::string where = "/proc/" + std::to_string(pid) + (dirfd == AT_FDCWD ? "/cwd" : "/fd/" + std::to_string(dirfd));
        dir.reset(::open(where.c_str(), O_PATH | O_CLOEXEC));
        if (!dir) return answer_errno(errno == ENOENT ? EBADF : errno, "failed");
        if (!kernel::notify_id_valid(listener, n.id)) return d;
        req->has_dir = 1;
    }
    if ((req->flags & (O_CREAT | __O_TMPFILE)) && (!read_caller(pid, *req) || !kernel::notify_id_valid(listener, n.id)))
        return answer_errno(EACCES, "failed");

    auto rep = std::make_unique<opener::Reply>();
    for (int attempt = 0;; ++attempt) {
        req->seq = ++seq_;
        int fd = dir.get();
        if (!send_packet(opener_.get(), req.get(), sizeof(*req), fd >= 0 ? &fd : nullptr, fd >= 0 ? 1 : 0))
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
        if (rep->decided)
            d.rule = rep->rule >= 0 && static_cast<size_t>(rep->rule) < rules_.rules.size()
                         ? rules_.rules[static_cast<size_t>(rep->rule)].origin
                         : "default";
        switch (rep->outcome) {
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
