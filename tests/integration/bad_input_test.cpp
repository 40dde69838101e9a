// Bad input: one clear line, exit 125, and nothing left behind (the leak check runs after).
#include "harness.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include <sys/stat.h>
#include <unistd.h>
#include <sys/statvfs.h>

namespace caisson::test {
namespace {

void expect_usage_error(const RunResult& r, const std::string& needle) {
    EXPECT_EQ(r.status, 125) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

// Installed setuid root, caisson would give whoever runs it root's choices (--map-host-root):
// it refuses to run so (bubblewrap's CVE-2020-5291 class), whatever it was asked.
TEST(BadInput, ASetuidInstallRefusesToRun) {
    TempDir dir;
    const std::string copy = dir.path() + "/caisson";
    {
        std::ifstream in(caisson_path(), std::ios::binary);
        std::ofstream out(copy, std::ios::binary);
        out << in.rdbuf();
    }
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    ASSERT_EQ(::chmod(copy.c_str(), 04755), 0);
    struct statvfs vfs{};
    ASSERT_EQ(::statvfs(copy.c_str(), &vfs), 0);
    if (vfs.f_flag & ST_NOSUID) GTEST_SKIP() << dir.path() << " is mounted nosuid: a setuid bit there does nothing";
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    o.program = copy.c_str();
    RunResult r = run_caisson({"run", "--map-host-root", "--", "/bin/id", "-u"}, o);
    EXPECT_EQ(r.status, 125) << r.out << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("refused: installed setuid"), std::string::npos) << r.err;
}

// As root, the files caisson writes (--report, --audit, --learn) are reached through links of
// root's only: one a sandbox could plant (an earlier run's, in a writable directory) would
// send root's write elsewhere. A link of another uid on the way is refused, naming it.
TEST(BadInput, AReportThroughAnotherUsersLinkIsRefused) {
    TempDir dir;
    const std::string target = dir.path() + "/target", link = dir.path() + "/out";
    ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
    ASSERT_EQ(::lchown(link.c_str(), kUnprivilegedUid, kUnprivilegedUid), 0);
    for (const char* option : {"--report", "--audit"}) {
        RunResult r = run_caisson({"run", option, link + "/r.json", "--", "/bin/true"});
        expect_usage_error(r, "a link of uid " + std::to_string(kUnprivilegedUid) + "'s");
        struct stat st{};
        EXPECT_NE(::stat((target + "/r.json").c_str(), &st), 0) << option << ": written through the link";
    }
    // Nor through root's link to another user's (each link on the way is read and judged, not
    // only the names the path gives: a review's attack run wrote root's report so).
    const std::string roots = dir.path() + "/roots";
    ASSERT_EQ(::symlink(link.c_str(), roots.c_str()), 0);
    RunResult chained = run_caisson({"run", "--report", roots + "/r.json", "--", "/bin/true"});
    expect_usage_error(chained, "a link of uid " + std::to_string(kUnprivilegedUid) + "'s");
    // Root's own link is followed.
    ASSERT_EQ(::lchown(link.c_str(), 0, 0), 0);
    EXPECT_EQ(run_caisson({"run", "--report", link + "/r.json", "--", "/bin/true"}).status, 0);
    struct stat st{};
    EXPECT_EQ(::stat((target + "/r.json").c_str(), &st), 0);
    EXPECT_EQ(run_caisson({"run", "--report", roots + "/r2.json", "--", "/bin/true"}).status, 0);
    EXPECT_EQ(::stat((target + "/r2.json").c_str(), &st), 0);
}

// --rootfs too: another user's link would choose root's sandbox's root (an attack run gave it
// one to /, where the homes the default hides stayed visible); root's own link to / is the
// host's root, and its homes are hidden as when it is named "/".
TEST(BadInput, ARootfsThroughAnotherUsersLinkIsRefusedAndALinkToRootHidesTheHomes) {
    TempDir dir;
    const std::string theirs = dir.path() + "/theirs", roots = dir.path() + "/roots";
    ASSERT_EQ(::symlink("/", theirs.c_str()), 0);
    ASSERT_EQ(::lchown(theirs.c_str(), kUnprivilegedUid, kUnprivilegedUid), 0);
    expect_usage_error(run_caisson({"run", "--rootfs", theirs, "--", "/bin/true"}),
                       "a link of uid " + std::to_string(kUnprivilegedUid) + "'s");
    ASSERT_EQ(::symlink("/", roots.c_str()), 0);
    RunResult named = run_caisson({"run", "--", "/bin/ls", "-A", "/home"});
    RunResult linked = run_caisson({"run", "--rootfs", roots, "--", "/bin/ls", "-A", "/home"});
    ASSERT_EQ(linked.status, 0) << linked.err;
    EXPECT_EQ(linked.out, named.out) << "the homes of the host's root are hidden however it is named";
}

// A bind's source too: another user's link would choose what root binds in (an attack run
// bound /root so). Root's own link is followed.
TEST(BadInput, ABindSourceThroughAnotherUsersLinkIsRefused) {
    TempDir dir;
    const std::string target = dir.path() + "/target", theirs = dir.path() + "/theirs", roots = dir.path() + "/roots";
    ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
    std::ofstream(target + "/mark") << "x\n";
    ASSERT_EQ(::symlink(target.c_str(), theirs.c_str()), 0);
    ASSERT_EQ(::lchown(theirs.c_str(), kUnprivilegedUid, kUnprivilegedUid), 0);
    for (const char* option : {"--bind", "--ro-bind"})
        expect_usage_error(run_caisson({"run", option, theirs, "/mnt", "--", "/bin/true"}),
                           "a link of uid " + std::to_string(kUnprivilegedUid) + "'s");
    expect_usage_error(run_caisson({"run", "--ro-bind", theirs + "/mark", "/mnt", "--", "/bin/true"}),
                       "a link of uid " + std::to_string(kUnprivilegedUid) + "'s");
    // Nor through root's link that leads through another user's (every link is read and judged).
    const std::string chained = dir.path() + "/chained";
    ASSERT_EQ(::symlink((theirs + "/mark").c_str(), chained.c_str()), 0);
    expect_usage_error(run_caisson({"run", "--ro-bind", chained, "/mnt", "--", "/bin/true"}),
                       "a link of uid " + std::to_string(kUnprivilegedUid) + "'s");
    ASSERT_EQ(::symlink(target.c_str(), roots.c_str()), 0);
    RunResult ok = run_caisson({"run", "--ro-bind", roots, "/mnt", "--", "/bin/cat", "/mnt/mark"});
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_EQ(ok.out, "x\n");
}

TEST(BadInput, UnknownFlag) { expect_usage_error(run_caisson({"run", "--frobnicate", "--", "/bin/true"}), "--frobnicate"); }
TEST(BadInput, MissingProgram) { expect_usage_error(run_caisson({"run"}), "no program"); }
TEST(BadInput, MissingRootfs) {
    expect_usage_error(run_caisson({"run", "--rootfs", "/no/such/root", "--", "/bin/true"}), "/no/such/root");
}
TEST(BadInput, MissingBindSource) {
    expect_usage_error(run_caisson({"run", "--bind", "/no/such/src", "/mnt", "--", "/bin/true"}), "/no/such/src");
}
TEST(BadInput, BadRlimit) {
    expect_usage_error(run_caisson({"run", "--rlimit", "NOFILES=3", "--", "/bin/true"}), "unknown limit name");
    expect_usage_error(run_caisson({"run", "--rlimit", "NOFILE=lots", "--", "/bin/true"}), "NOFILE=lots");
}
TEST(BadInput, MissingOptionValue) { expect_usage_error(run_caisson({"run", "--hostname"}), "hostname"); }
TEST(BadInput, RelativeMountTarget) {
    expect_usage_error(run_caisson({"run", "--tmpfs", "relative", "--", "/bin/true"}), "absolute");
}

TEST(BadInput, MalformedProfileNamesLineAndColumn) {
    TempDir t;
    std::string path = t.path() + "/bad.toml";
    std::ofstream(path) << "hostname = \"x\"\ntime-limit = [1,\n";
    expect_usage_error(run_caisson({"run", "--profile", path, "--", "/bin/true"}), path + ":");
    std::ofstream(path) << "hostname = \"x\"\n\nnot-a-setting = 3\n";
    expect_usage_error(run_caisson({"run", "--profile", path, "--", "/bin/true"}), path + ":3:");
}

TEST(BadInput, UnreadableProfile) {
    expect_usage_error(run_caisson({"run", "--profile", "/no/such/profile.toml", "--", "/bin/true"}),
                       "/no/such/profile.toml");
    expect_usage_error(run_caisson({"run", "--profile", "nonesuch", "--", "/bin/true"}), "no profile named");
}

TEST(Profiles, ExtendAndFlagsWin) {
    TempDir t;
    std::ofstream(t.path() + "/base.toml") << "hostname = \"base\"\nrlimit = [\"NOFILE=100\"]\n";
    std::ofstream(t.path() + "/child.toml") << "extends = \"base.toml\"\nhostname = \"child\"\n";
    auto r = run_probe({"--profile", t.path() + "/child.toml"});
    EXPECT_EQ(r.probe["hostname"], "child");
    EXPECT_EQ(r.probe["rlimits"]["NOFILE"]["soft"], 100);
    auto over = run_probe({"--profile", t.path() + "/child.toml", "--hostname", "flag"});
    EXPECT_EQ(over.probe["hostname"], "flag");
}

TEST(Profiles, PrintPolicyRunsNothing) {
    auto r = run_caisson({"run", "--profile", "judge", "--print-policy", "--", "/bin/sh", "-c", "echo ran"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["hostname"], "judge");
    EXPECT_EQ(j["process"]["argv"][2], "echo ran");
    EXPECT_EQ(r.out.find("ran\n"), std::string::npos);
}

// The whole model: resources, network and the BPF LSM show too (a --memory that did not
// show was the reason for this test).
TEST(Profiles, PrintPolicyShowsEveryPart) {
    auto r = run_caisson({"run", "--print-policy", "--memory", "256M", "--pids", "32", "--cpus", "0.5", "--net", "veth",
                          "--publish", "8080:80", "--device-deny", "c 1:5 rwm", "--lsm-exec-max", "3", "--allow-connect",
                          "10.0.0.0/8:443", "--", "/bin/true"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["resources"]["memory"], 256u << 20);
    EXPECT_EQ(j["resources"]["pids"], 32);
    EXPECT_EQ(j["resources"]["cpus"], 0.5);
    EXPECT_EQ(j["resources"]["devices"][0], "deny c 1:5 rwm");
    EXPECT_EQ(j["network"]["mode"], "veth");
    EXPECT_EQ(j["network"]["publish"][0], "tcp:8080:80");
    EXPECT_EQ(j["bpf_lsm"]["exec_max"], 3);
    EXPECT_EQ(j["egress"]["otherwise"], "deny");
    for (const char* part : {"namespaces", "identity", "filesystem", "process", "capabilities", "seccomp", "landlock",
                             "resources", "network", "ceilings"})
        EXPECT_TRUE(j.contains(part)) << part;
}

}  // namespace
}  // namespace caisson::test
