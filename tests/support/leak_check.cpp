// A GoogleTest environment in every test binary: after the suite, nothing the tests
// started may remain: no mount in our namespace, no caisson or probe process, no child,
// no namespace descriptor held by us, no stray /tmp/caisson-* entry, no cgroup naming caisson.
#include "host_state.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace {

using caisson::test::caisson_cgroups;
using caisson::test::caisson_network_state;
using caisson::test::mount_lines;
using caisson::test::shared_directories;
using caisson::test::tmp_entries;

std::vector<std::string> stray_processes() {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator("/proc")) {
        std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        if (std::stoi(name) == ::getpid()) continue;
        std::ifstream comm(e.path() / "comm");
        std::string c;
        std::getline(comm, c);
        std::ifstream stat(e.path() / "stat");
        std::string s;
        std::getline(stat, s);
        // Field 4 (after "pid (comm) state") is the parent's pid.
        auto close = s.rfind(')');
        std::istringstream f(close == std::string::npos ? "" : s.substr(close + 2));
        std::string state;
        int ppid = 0;
        f >> state >> ppid;
        if (c == "caisson" || c == "probe" || c == "passt.avx2" || c == "pasta" || ppid == ::getpid()) out.push_back(name + " " + c);
    }
    return out;
}

std::vector<std::string> own_namespace_fds() {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        auto target = std::filesystem::read_symlink(e.path(), ec).string();
        if (target.find(":[") != std::string::npos && target.rfind("socket", 0) != 0 &&
            target.rfind("pipe", 0) != 0 && target.rfind("anon_inode", 0) != 0)
            out.push_back(target);
    }
    return out;
}

class LeakCheck : public ::testing::Environment {
public:
    void SetUp() override {
        // Orphans of a killed caisson come to us, not to the machine's init, and are reaped.
        ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        mounts_ = mount_lines();
        tmp_ = tmp_entries();
        cgroups_ = caisson_cgroups();
        network_ = caisson_network_state();
        shared_ = shared_directories();
    }
    void TearDown() override {
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        auto now = mount_lines();
        for (const auto& m : now) EXPECT_TRUE(mounts_.count(m)) << "leaked mount:" << m;
        for (const auto& t : tmp_entries()) EXPECT_TRUE(tmp_.count(t)) << "leaked file: " << t;
        for (const auto& p : stray_processes()) ADD_FAILURE() << "leaked process: " << p;
        for (const auto& n : own_namespace_fds()) ADD_FAILURE() << "leaked namespace descriptor: " << n;
        for (const auto& c : caisson_cgroups()) EXPECT_TRUE(cgroups_.count(c)) << "leaked cgroup: " << c;
        for (const auto& n : caisson_network_state()) EXPECT_TRUE(network_.count(n)) << "leaked network state: " << n;
        for (const auto& d : shared_directories()) EXPECT_TRUE(shared_.count(d)) << "changed shared directory (path uid:gid mode): " << d;
    }

private:
    std::set<std::string> mounts_;
    std::set<std::string> tmp_;
    std::set<std::string> cgroups_;
    std::set<std::string> network_;
    std::set<std::string> shared_;
};

const auto* const kLeakCheck = ::testing::AddGlobalTestEnvironment(new LeakCheck);

}  // namespace
