// A process in a new network namespace, holding it until destroyed, for tests that join a
// namespace by path (--net ns:PATH). `setup` runs in that namespace before it is handed over.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <string>

namespace caisson::test {

class NetnsHolder {
public:
    explicit NetnsHolder(bool (*setup)() = nullptr) {
        int ready[2], hold[2];
        EXPECT_EQ(::pipe2(ready, O_CLOEXEC), 0);
        EXPECT_EQ(::pipe2(hold, O_CLOEXEC), 0);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(hold[1]);
            ::close(ready[0]);
            char ok = ::unshare(CLONE_NEWNET) == 0 && (!setup || setup()) ? 'y' : 'n';
            (void)!::write(ready[1], &ok, 1);
            char c;
            (void)!::read(hold[0], &c, 1);  // until the test closes its end
            ::_exit(0);
        }
        ::close(ready[1]);
        ::close(hold[0]);
        hold_ = hold[1];
        char ok = 0;
        EXPECT_EQ(::read(ready[0], &ok, 1), 1);
        EXPECT_EQ(ok, 'y');
        ::close(ready[0]);
    }
    ~NetnsHolder() {
        ::close(hold_);
        ::waitpid(pid_, nullptr, 0);
    }
    NetnsHolder(const NetnsHolder&) = delete;
    NetnsHolder& operator=(const NetnsHolder&) = delete;
    std::string path() const { return "/proc/" + std::to_string(pid_) + "/ns/net"; }
    std::string link() const {
        char buf[PATH_MAX] = {};
        ssize_t n = ::readlink(path().c_str(), buf, sizeof(buf) - 1);
        return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    }

private:
    pid_t pid_ = -1;
    int hold_ = -1;
};

}  // namespace caisson::test
