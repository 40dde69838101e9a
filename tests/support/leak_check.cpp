// A GoogleTest environment in every test binary: after the suite, nothing the tests
// started may remain: no mount in our namespace, no caisson or probe process, no child,
// no namespace descriptor held by us, no stray /tmp/caisson-* entry, no cgroup naming caisson.
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

std::set<std::string> mount_lines() {
    std::set<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // Drop the mount id and parent id, which do not identify a mount across snapshots.
        std::istringstream f(line);
        std::string id, parent, rest;
        f >> id >> parent;
        std::getline(f, rest);
        out.insert(rest);
    }
    return out;
}

std::set<std::string> tmp_entries() {
    std::set<std::string> out;
    for (auto& e : std::filesystem::directory_iterator("/tmp"))
        if (e.path().filename().string().rfind("caisson", 0) == 0) out.insert(e.path().string());
    return out;
}

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
        if (c == "caisson" || c == "probe" || ppid == ::getpid()) out.push_back(name + " " + c);
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

std::set<std::string> caisson_cgroups() {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& h : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
        std::filesystem::recursive_directory_iterator it(h.path(), ec), end;
        for (; it != end; it.increment(ec)) {
            if (it.depth() > 2) it.disable_recursion_pending();
            if (it->is_directory(ec) && it->path().filename().string().find("caisson") != std::string::npos)
                out.insert(it->path().string());
        }
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
    }

private:
    std::set<std::string> mounts_;
    std::set<std::string> tmp_;
    std::set<std::string> cgroups_;
};

const auto* const kLeakCheck = ::testing::AddGlobalTestEnvironment(new LeakCheck);

}  // namespace
