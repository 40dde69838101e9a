#include "mech/passt.hpp"

#include "mech/companion.hpp"
#include "mech/pasta.hpp"

#include <caisson/error.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace caisson::mech {

std::string find_passt() { return find_program("passt", "CAISSON_PASST"); }

Passt::Passt(const std::vector<std::string>& argv, int socket, int stderr_fd)
    : pid_(fork_tethered("passt", argv, stderr_fd, {socket})) {}

Passt::~Passt() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
}

}  // namespace caisson::mech
