#include "mech/in_child.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {

int in_child(const std::function<int()>& probe) {
    pid_t pid = ::fork();
    if (pid < 0) return errno;
    if (pid == 0) {
        int rc = probe();
        ::_exit(rc > 0 && rc < 256 ? rc : (rc == 0 ? 0 : EIO));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return errno;
    return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

}  // namespace caisson::mech
