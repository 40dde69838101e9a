#include <caisson/error.hpp>
#include <caisson/output_file.hpp>

#include "mech/trusted_dir.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>

namespace caisson {
namespace {

// The directory `path` is in, as a descriptor, and its last name. As root, the way there may
// go through links of root's only: one a sandbox planted (in a --workdir, a writable bind,
// an earlier run's) or another user put on the way would send root's write elsewhere. Each
// name is opened and each link read through its own descriptor (mech/trusted_dir): a review's
// attack run flipped a link between a look at the path and its use, and root wrote there.
Fd parent_of(const std::string& path, const std::string& what, std::string& name) {
    const size_t slash = path.find_last_of('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (name.empty() || name == "." || name == "..") throw Error::usage(what + ": " + path + " names no file");
    return mech::open_trusted_dir(dir, mech::link_trust_for_this_user(), what);
}

}  // namespace

OutputFile::OutputFile(const std::string& path, const std::string& what, const std::vector<int>& pass_fds)
    : path_(path), what_(what) {
    for (int fd : pass_fds)
        if (fd >= 3 && ::fcntl(fd, F_GETFD) < 0) throw Error(ErrorKind::Usage, "--pass-fd", std::to_string(fd), errno);
    // Nothing but a regular file, or /dev/null, is opened at all: opening a device may act
    // (a watchdog arms), a FIFO may wait. Looked at first, then opened without following a
    // link and checked to be the same file. No O_TRUNC: a file of another name is refused
    // before anything of it is cut.
    std::string name;
    Fd dir = parent_of(path, what, name);
    struct stat before{};
    const bool existed = ::fstatat(dir.get(), name.c_str(), &before, AT_SYMLINK_NOFOLLOW) == 0;
    if (!existed && errno != ENOENT) throw Error(ErrorKind::Usage, what + ": stat", path, errno);
    const dev_t null_device = makedev(1, 3);
    auto is_null = [&](const struct stat& s) { return S_ISCHR(s.st_mode) && s.st_rdev == null_device; };
    if (existed && !S_ISREG(before.st_mode) && !is_null(before))
        throw Error::usage(what + ": " + path + " is not a regular file (or /dev/null)");
    fd_.reset(::openat(dir.get(), name.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644));
    if (!fd_) throw Error(ErrorKind::Usage, what + ": open", path, errno);
    struct stat st{};
    if (::fstat(fd_.get(), &st) < 0) throw Error(ErrorKind::Usage, what + ": fstat", path, errno);
    if (existed && (st.st_dev != before.st_dev || st.st_ino != before.st_ino))
        throw Error::usage(what + ": " + path + " changed while it was opened");
    if (is_null(st)) return;  // nothing to cut, nothing to wait on
    if (!S_ISREG(st.st_mode)) throw Error::usage(what + ": " + path + " is not a regular file");
    if (st.st_nlink != 1)
        throw Error::usage(what + ": " + path + " has " + std::to_string(st.st_nlink) + " names (a hard link): caisson writes only a file of one");
}

void OutputFile::write(const std::string& text) const {
    struct stat st{};
    if (::fstat(fd_.get(), &st) < 0) throw Error(ErrorKind::Setup, what_ + ": fstat", path_, errno);
    if (S_ISCHR(st.st_mode)) return;  // /dev/null
    if (::ftruncate(fd_.get(), 0) < 0) throw Error(ErrorKind::Setup, what_ + ": truncate", path_, errno);
    for (size_t done = 0; done < text.size();) {
        ssize_t n = ::pwrite(fd_.get(), text.data() + done, text.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Error(ErrorKind::Setup, what_ + ": write", path_, n < 0 ? errno : EIO);
        done += static_cast<size_t>(n);
    }
}

}  // namespace caisson
