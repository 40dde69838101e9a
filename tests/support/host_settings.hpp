// Host settings a test needs, set for its duration and put back at its end (by RAII, so a
// failing assertion restores them too). Hosts of one kind differ: a freshly booted machine
// had /dev/net/tun at 0600 where Debian's default is 0666.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace caisson::test {

// /dev/net/tun at a given mode.
class TunMode {
public:
    explicit TunMode(mode_t want) {
        struct stat st{};
        if (::stat(kTun, &st) < 0) {
            problem_ = std::string(kTun) + " does not exist on this host";
            return;
        }
        old_ = st.st_mode & 07777;
        had_ = true;
        if (::chmod(kTun, want) < 0) problem_ = std::string("cannot chmod ") + kTun + ": " + strerrorname_np(errno);
    }
    ~TunMode() {
        if (had_) ::chmod(kTun, old_);
    }
    TunMode(const TunMode&) = delete;
    TunMode& operator=(const TunMode&) = delete;
    // Why the device could not be given the mode; empty when it was.
    const std::string& problem() const { return problem_; }

private:
    static constexpr const char* kTun = "/dev/net/tun";
    mode_t old_ = 0;
    bool had_ = false;
    std::string problem_;
};

}  // namespace caisson::test
