// `[open]` rules: opens decided on the real path, performed by the opener inside the
// sandbox and installed in the caller. A symlink or a relative path cannot reach a refused
// file, a missing refused file looks refused, writes and reads are told apart, a second
// thread rewriting the path cannot turn an allowed open into a refused one, and every
// decision is in the audit with its path and rule.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace caisson::test {
namespace {

// DIR/data/good/file ("GOOD"), DIR/data/evil/file ("EVIL"), and links from good to evil.
std::string make_tree(const TempDir& dir) {
    std::string data = dir.path() + "/data";
    for (const char* d : {"", "/good", "/evil"}) ::mkdir((data + d).c_str(), 0755);
    std::ofstream(data + "/good/file") << "GOOD";
    std::ofstream(data + "/evil/file") << "EVIL";
    if (::symlink("../evil/file", (data + "/good/relative-link").c_str()) < 0 ||
        ::symlink("/tmp/data/evil/file", (data + "/good/absolute-link").c_str()) < 0 ||
        ::symlink("/tmp/data/evil", (data + "/good/dir-link").c_str()) < 0)
        throw std::runtime_error("symlink");
    return data;
}

const char* kRules = R"P(
[open]
default = "allow"
[[open.rule]]
path = "/tmp/data/evil/**"
action = "errno(EACCES)"
[[open.rule]]
path = "/tmp/**"
access = "write"
action = "errno(EROFS)"
)P";

TEST(OpenRules, TheRealPathDecides) {
    TempDir dir;
    std::string data = make_tree(dir);
    std::string policy = write_seccomp_policy(dir, kRules);
    std::string audit = dir.path() + "/audit.jsonl";
    RunResult r = run_probe({"--seccomp", policy, "--audit", audit, "--ro-bind", data, "/tmp/data", "--chdir", "/tmp/data/good"},
                            {"--read", "/tmp/data/good/file", "--read", "/tmp/data/evil/file", "--read", "/tmp/data/good/relative-link",
                             "--read", "/tmp/data/good/absolute-link", "--read", "/tmp/data/good/dir-link/file", "--read",
                             "../evil/file", "--read", "file", "--read", "/tmp/data/good/../evil/./file", "--read",
                             "/tmp/data/evil/missing", "--read", "/tmp/data/good/missing", "--write", "/tmp/new", "--read",
                             "/proc/self/status"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& reads = r.probe["reads"];
    EXPECT_EQ(reads["/tmp/data/good/file"], "data");
    EXPECT_EQ(reads["file"], "data");
    for (const char* refused : {"/tmp/data/evil/file", "/tmp/data/good/relative-link", "/tmp/data/good/absolute-link",
                                "/tmp/data/good/dir-link/file", "../evil/file", "/tmp/data/good/../evil/./file"})
        EXPECT_EQ(reads[refused], "EACCES") << refused;
    // A refused name that does not exist is refused, not reported missing.
    EXPECT_EQ(reads["/tmp/data/evil/missing"], "EACCES");
    EXPECT_EQ(reads["/tmp/data/good/missing"], "ENOENT");
    EXPECT_EQ(r.probe["writes"]["/tmp/new"], "EROFS");
    // /proc/self is the caller's, not the opener's.
    EXPECT_EQ(reads["/proc/self/status"], "data");
    int refused_in_audit = 0;
    for (const auto& l : audit_lines(audit)) {
        if (l.value("path", "") != "/tmp/data/evil/file") continue;
        EXPECT_EQ(l["decision"], "errno(EACCES)") << l.dump();
        EXPECT_NE(l["rule"].get<std::string>().find("policy.toml:5:1"), std::string::npos) << l.dump();
        ++refused_in_audit;
    }
    EXPECT_EQ(refused_in_audit, 6) << read_file(audit);
}

TEST(OpenRules, ARewrittenPathCannotReachTheRefusedFile) {
    TempDir dir;
    std::string data = make_tree(dir);
    std::string policy = write_seccomp_policy(dir, kRules);
    RunResult r = run_probe({"--seccomp", policy, "--ro-bind", data, "/tmp/data"},
                            {"--race-open", "/tmp/data/good/file", "/tmp/data/evil/file", "20000"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& race = r.probe["race_open"];
    EXPECT_EQ(race["forbidden"], 0) << race.dump();
    EXPECT_GT(race["allowed"].get<int>(), 0) << race.dump();
    // The other thread did rewrite the path under the opens: some reached the refused name.
    EXPECT_GT(race["refused"].get<int>(), 0) << race.dump();
}

TEST(OpenRules, AKillRuleEndsTheSandbox) {
    TempDir dir;
    std::string data = make_tree(dir);
    std::string policy = write_seccomp_policy(dir, "[open]\ndefault = \"allow\"\n[[open.rule]]\npath = \"/tmp/data/evil/*\"\naction = \"kill-process\"\n");
    std::string report = dir.path() + "/report.json";
    RunResult r = run_probe({"--seccomp", policy, "--ro-bind", data, "/tmp/data", "--report", report},
                            {"--read", "/tmp/data/good/file", "--read", "/tmp/data/evil/file"});
    EXPECT_EQ(r.status, 128 + SIGSYS) << r.err;
    EXPECT_TRUE(r.probe.is_null());  // killed before it could print
    auto j = nlohmann::json::parse(read_file(report));
    EXPECT_EQ(j["seccomp_violation"]["syscall"], "openat") << j.dump();
    EXPECT_NE(j["seccomp_violation"]["action"].get<std::string>().find("/tmp/data/evil/file"), std::string::npos) << j.dump();
}

TEST(OpenRules, AKilledOpenerMeansRefusedOpensNotAHang) {
    TempDir dir;
    std::string policy = write_seccomp_policy(dir, "[open]\ndefault = \"allow\"\n");
    // The program can signal the opener (same user), not trace it: then nothing opens.
    RunResult r = run_probe({"--seccomp", policy}, {"--read", "/etc/hostname", "--kill-named", "caisson-opener"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["killed"], 1);
    RunResult after = run_probe({"--seccomp", policy}, {"--kill-named", "caisson-opener", "--read", "/etc/hostname"});
    ASSERT_EQ(after.status, 0) << after.err;
    EXPECT_EQ(after.probe["reads"]["/etc/hostname"], "EACCES");
}

TEST(OpenRules, UnderLandlockTheCallersOwnDescriptorsReopen) {
    TempDir dir;
    std::string policy = write_seccomp_policy(dir, "[open]\ndefault = \"allow\"\n");
    // /proc/self/fd/0 is a magic link into the caller: the opener follows it only from
    // within the program's own Landlock domain.
    RunResult r = run_probe({"--seccomp", policy, "--landlock-rx", "/", "--landlock-rw", "/tmp"},
                            {"--read", "/proc/self/fd/0", "--read", "/dev/stdin"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"]["/proc/self/fd/0"], "empty");  // the harness's /dev/null
    EXPECT_EQ(r.probe["reads"]["/dev/stdin"], "empty");
}

TEST(OpenRules, PolicyCheckShowsThem) {
    TempDir dir;
    std::string policy = write_seccomp_policy(dir, kRules);
    RunResult r = run_caisson({"policy", "check", policy});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("  errno(EACCES) /tmp/data/evil/** (" + policy + ":5:1)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  errno(EROFS) write /tmp/** (" + policy + ":8:1)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  otherwise allow\n"), std::string::npos) << r.out;
}

TEST(OpenRules, BadRulesAreRefusedWithTheirPlace) {
    TempDir dir;
    struct Case {
        std::string text, message;
    } cases[] = {
        {"[open]\n[[open.rule]]\npath = \"etc/*\"\n", "policy.toml:4:8: 'etc/*': a path pattern must be absolute"},
        {"[open]\n[[open.rule]]\npath = \"/etc/../x\"\n", "a path pattern has no '.' or '..'"},
        {"[open]\n[[open.rule]]\npath = \"/etc\"\naccess = \"exec\"\n", "'access' is read, write or any"},
        {"[open]\n[[open.rule]]\npath = \"/etc\"\naction = \"notify\"\n", "action is allow, errno(N) or kill-process"},
        {"[open]\ncolour = 1\n", "unknown key 'colour' in [open]"},
        {"[open]\n[[open.rule]]\naction = \"allow\"\n", "[[open.rule]] needs 'path'"},
        {"abi = [\"x86_64\", \"i386\"]\n[open]\n", "[open] rules decide x86_64 calls only"},
    };
    for (const auto& c : cases) {
        std::string policy = write_seccomp_policy(dir, c.text);
        expect_refused({"--seccomp", policy}, c.message);
    }
    std::string policy = write_seccomp_policy(dir, "[open]\n");
    expect_refused({"--seccomp", policy, "--cap-add", "sys_ptrace"}, "cannot hold against a program that keeps CAP_SYS_PTRACE");
}

}  // namespace
}  // namespace caisson::test
