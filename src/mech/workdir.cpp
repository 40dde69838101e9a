#include "mech/workdir.hpp"

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace caisson::mech {

int open_workdir(const char* path, kernel::Failure& f) {
    kernel::Fd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return f.set("open root", "/"), -1;
    int dir = kernel::openat2(root.get(), path, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (dir < 0) f.set("chdir", path);
    return dir;
}

bool enter_workdir(int dir, const char* path, kernel::Failure& f) {
    if (::fchdir(dir) < 0) return f.set("chdir", path);
    char where[PATH_MAX];
    if (!::getcwd(where, sizeof(where))) return f.set("working directory outside the root", path);
    if (where[0] != '/') return f.set("working directory outside the root", path, EPERM);
    return true;
}

bool enter_workdir(const char* path, kernel::Failure& f) {
    kernel::Fd dir(open_workdir(path, f));
    return dir && enter_workdir(dir.get(), path, f);
}

}  // namespace caisson::mech
