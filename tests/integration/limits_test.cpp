// Ceilings a sandbox has with no flag at all (processes, memory, descriptors, the counts of
// its user namespace), how they are held as root and as an ordinary user, and that one
// sandbox cannot take what the kernel counts per user for the host or for another sandbox.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <sys/inotify.h>
#include <unistd.h>

#include <csignal>

namespace caisson::test {
namespace {

bool reported(const nlohmann::json& report, const std::string& what) {
    return report["protections"].dump().find(what) != std::string::npos;
}

TEST(Ceilings, ADefaultSandboxHasThemAsRoot) {
    TempDir dir;
    std::string report = dir.path() + "/r.json";
    auto r = run_probe({"--report", report}, {"--fork", "1500", "--inotify", "200"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_LE(r.probe["fork"]["made"].get<int>(), 1024);
    EXPECT_EQ(r.probe["fork"]["error"], "EAGAIN");
    EXPECT_EQ(r.probe["rlimits"]["NOFILE"]["hard"], 1024);
    EXPECT_EQ(r.probe["inotify"]["got"], 32);
    EXPECT_EQ(r.probe["inotify"]["stopped"], "EMFILE");
    auto j = read_json(report);
    EXPECT_TRUE(reported(j, "ceiling pids 1024 (cgroup)")) << j["protections"];
    EXPECT_TRUE(reported(j, "ceiling memory 2G (cgroup)")) << j["protections"];
    EXPECT_NE(j["cgroup"]["limits"].dump().find("pids.max=1024"), std::string::npos);
}

TEST(Ceilings, MemoryBeyondTheDefaultEndsTheSandbox) {
    TempDir dir;
    std::string report = dir.path() + "/r.json";
    auto r = run_probe({"--max-memory", "64M", "--report", report}, {"--alloc", "256"});
    EXPECT_EQ(r.status, 128 + SIGKILL) << r.err << r.out;
    EXPECT_EQ(read_json(report)["oom"], true);
}

TEST(Ceilings, AnOrdinaryUserGetsWhatTheKernelOffersWithoutACgroup) {
    TempDir dir(kUnprivilegedUid);
    std::string report = dir.path() + "/r.json";
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    CAISSON_REQUIRE("user namespaces", o);
    auto r = run_probe({"--report", report}, {"--alloc", "2200", "--fork", "1500"}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["alloc"], "ENOMEM");
    EXPECT_LE(r.probe["fork"]["made"].get<int>(), 1024);
    EXPECT_EQ(r.probe["fork"]["error"], "EAGAIN");
    EXPECT_EQ(r.probe["rlimits"]["NPROC"]["hard"], 1024);
    auto j = read_json(report);
    EXPECT_TRUE(reported(j, "RLIMIT_NPROC, this sandbox's processes")) << j["protections"];
    EXPECT_TRUE(reported(j, "RLIMIT_AS: no cgroup for a total")) << j["protections"];
}

TEST(Ceilings, RaisedOrLifted) {
    auto r = run_probe({"--max-pids", "unlimited", "--max-memory", "unlimited", "--max-open-files", "4096",
                        "--max-inotify-instances", "unlimited"},
                       {"--inotify", "40"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["cgroup"].get<std::string>().find("caisson-"), std::string::npos) << "no cgroup was needed";
    EXPECT_EQ(r.probe["rlimits"]["NOFILE"]["hard"], 4096);
    EXPECT_EQ(r.probe["inotify"]["got"], 40);
    auto explicit_pids = run_probe({"--pids", "2000"}, {"--fork", "1200"});
    ASSERT_EQ(explicit_pids.status, 0) << explicit_pids.err;
    EXPECT_EQ(explicit_pids.probe["fork"]["made"], 1200) << "--pids replaces the ceiling";
}

TEST(Ceilings, PrintPolicyAndHelpSayThem) {
    auto p = run_caisson({"run", "--print-policy", "--max-pids", "64", "--", "/bin/true"});
    ASSERT_EQ(p.status, 0) << p.err;
    auto j = nlohmann::json::parse(p.out);
    EXPECT_EQ(j["ceilings"]["pids"], 64);
    EXPECT_EQ(j["ceilings"]["memory"], 2ull << 30);
    EXPECT_EQ(j["ceilings"]["open_files"], 1024);
    auto h = run_caisson({"run", "--help"});
    EXPECT_NE(h.out.find("--max-memory"), std::string::npos);
    EXPECT_NE(h.out.find("default 2G"), std::string::npos);
    auto bad = run_caisson({"run", "--max-pids", "0", "--", "/bin/true"});
    EXPECT_EQ(bad.status, 125);
    EXPECT_NE(bad.err.find("--max-pids"), std::string::npos) << bad.err;
}

// A greedy sandbox takes every inotify instance it can and holds them; meanwhile the host's
// root asks for one, and a second sandbox (run with `other_args`) for 8.
void inotify_flood(const std::vector<std::string>& greedy_args, const std::vector<std::string>& other_args) {
    int host_fd = -1, host_errno = 0;
    RunResult other;
    RunOptions o;
    o.on_ready = [&](pid_t caisson) {
        host_fd = ::inotify_init1(IN_CLOEXEC);
        host_errno = errno;
        other = run_probe(other_args, {"--inotify", "8"});
        ::kill(caisson, SIGTERM);
    };
    auto greedy = run_probe(greedy_args, {"--inotify", "100000", "--wait-signal"}, o);
    ASSERT_EQ(greedy.status, 0) << greedy.err;
    EXPECT_EQ(greedy.probe["inotify"]["stopped"], "EMFILE");
    EXPECT_GE(host_fd, 0) << "the host's root could not get an inotify instance: " << strerrorname_np(host_errno);
    if (host_fd >= 0) ::close(host_fd);
    ASSERT_EQ(other.status, 0) << other.err;
    EXPECT_EQ(other.probe["inotify"]["got"], 8) << "a second sandbox got " << other.probe["inotify"];
}

// The kernel charges what a sandbox counts per user (inotify instances here) to the uid that
// created its user namespace, at the host's level: it must not be the host's root. And each
// sandbox has a budget of its own inside, so that one cannot take all of its uid's.
TEST(Ceilings, OneSandboxCannotTakeTheInotifyOfTheHostOrOfAnother) { inotify_flood({}, {}); }

// Even with its own ceiling lifted, a sandbox spends a budget of its own (its user
// namespace's owner is its own), neither root's nor another sandbox's.
TEST(Ceilings, ALiftedInotifyCeilingSpendsABudgetOfItsOwn) {
    inotify_flood({"--max-inotify-instances", "unlimited"}, {"--max-inotify-instances", "unlimited"});
}

}  // namespace
}  // namespace caisson::test
