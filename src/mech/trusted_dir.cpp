#include "mech/trusted_dir.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <deque>

namespace caisson::mech {
namespace {

void push_front_names(std::deque<std::string>& names, const std::string& path) {
    std::deque<std::string> parts;
    for (size_t at = 0; at <= path.size();) {
        size_t end = path.find('/', at);
        if (end == std::string::npos) end = path.size();
        if (end > at) parts.push_back(path.substr(at, end - at));
        at = end + 1;
    }
    names.insert(names.begin(), parts.begin(), parts.end());
}

}  // namespace

LinkTrust link_trust_for_this_user() { return ::geteuid() == 0 ? LinkTrust::RootsOwn : LinkTrust::Any; }

namespace {

kernel::Fd open_trusted(const std::string& path, LinkTrust trust, const std::string& what, bool dir_only) {
    if (path.empty()) throw Error::usage(what + ": an empty path");
    kernel::Fd at(::open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!at) throw Error(ErrorKind::Usage, what + ": open", path[0] == '/' ? "/" : ".", errno);
    std::deque<std::string> names;
    push_front_names(names, path);
    int links = 0;
    while (!names.empty()) {
        const std::string name = names.front();
        names.pop_front();
        if (name == ".") continue;
        kernel::Fd next(::openat(at.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!next) throw Error(ErrorKind::Usage, what + ": open " + name + " on the way to", path, errno);
        struct stat st{};
        if (::fstat(next.get(), &st) < 0) throw Error(ErrorKind::Usage, what + ": stat " + name + " on the way to", path, errno);
        if (S_ISLNK(st.st_mode)) {
            if (trust == LinkTrust::RootsOwn && st.st_uid != 0 && st.st_uid != ::geteuid())
                throw Error::usage(what + ": " + path + " leads through " + name + ", a link of uid " + std::to_string(st.st_uid) +
                                   "'s: as root, caisson follows links of root's only (give the real path)");
            if (++links > 40) throw Error(ErrorKind::Usage, what + ": follow links on the way to", path, ELOOP);
            // The link read through the descriptor looked at: what it says now is what it said.
            char target[PATH_MAX];
            ssize_t n = ::readlinkat(next.get(), "", target, sizeof(target) - 1);
            if (n <= 0) throw Error(ErrorKind::Usage, what + ": read the link " + name + " on the way to", path, n < 0 ? errno : EINVAL);
            target[n] = '\0';
            if (target[0] == '/') {
                at.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
                if (!at) throw Error(ErrorKind::Usage, what + ": open", "/", errno);
            }
            push_front_names(names, target);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (!dir_only && names.empty()) return next;  // the object itself, of any type
            throw Error(ErrorKind::Usage, what + ": " + name + " on the way to " + path, "not a directory", ENOTDIR);
        }
        at = std::move(next);
    }
    return at;
}

}  // namespace

kernel::Fd open_trusted_dir(const std::string& path, LinkTrust trust, const std::string& what) {
    return open_trusted(path, trust, what, true);
}

kernel::Fd open_trusted_path(const std::string& path, LinkTrust trust, const std::string& what) {
    return open_trusted(path, trust, what, false);
}

}  // namespace caisson::mech
