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

// openat2 keeps its flags in memory: switched from O_PATH to O_RDONLY (and the path to the
// refused file) while the supervisor decides, they never give a read of the refused file.
// An O_PATH openat2 is not implemented under [open] (ENOSYS); openat's O_PATH still opens.
TEST(OpenRules, RewrittenOpenat2FlagsCannotReachTheRefusedFile) {
    TempDir dir;
    std::string data = make_tree(dir);
    std::string policy = write_seccomp_policy(dir, kRules);
    RunResult r = run_probe({"--seccomp", policy, "--ro-bind", data, "/tmp/data"},
                            {"--race-openat2", "/tmp/data/good/file", "/tmp/data/evil/file", "20000", "--fs",
                             "openat2-path:/tmp/data/good/file", "--fs", "open-path:/tmp/data/good/file"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& race = r.probe["race_openat2"];
    EXPECT_EQ(race["forbidden"], 0) << race.dump();
    EXPECT_EQ(race["path_only"], 0) << race.dump();
    EXPECT_GT(race["allowed"].get<int>(), 0) << race.dump();
    EXPECT_EQ(r.probe["fs"]["openat2-path:/tmp/data/good/file"], "ENOSYS") << r.probe["fs"].dump();
    EXPECT_EQ(r.probe["fs"]["open-path:/tmp/data/good/file"], "ok") << r.probe["fs"].dump();
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

// The attacks of an independent run on `[open]`, and their variants: a magic link decided
// on its own name, names made or moved to reach a refused file or to plant one in a refused
// directory, a read-only file truncated. DIR/ro is read-only, DIR/secret refused, DIR/ok
// free; /proc/self is allowed (as a policy for ordinary programs must).
const char* kLinkRules = R"P(
[open]
default = "errno(EACCES)"
[[open.rule]]
path = "/tmp/data/ro/**"
access = "read"
[[open.rule]]
path = ["/tmp/data/ro/**", "/tmp/data/secret/**"]
action = "errno(EACCES)"
[[open.rule]]
path = ["/tmp/data/**", "/proc/self/**", "/dev/**", "/etc/**", "/usr/**", "/lib/**"]
)P";

struct LinkTree {
    TempDir dir;
    std::string data = dir.path() + "/data", policy;
    LinkTree() {
        for (const char* d : {"", "/ro", "/secret", "/ok"}) ::mkdir((data + d).c_str(), 0777);
        std::ofstream(data + "/ro/file") << "READ-ONLY";
        std::ofstream(data + "/secret/file") << "SECRET";
        for (const char* f : {"/ro/file", "/secret/file"}) ::chmod((data + f).c_str(), 0666);
        for (const char* d : {"/ro", "/secret", "/ok"}) ::chmod((data + d).c_str(), 0777);
        policy = write_seccomp_policy(dir, kLinkRules);
    }
    RunResult run(const std::vector<std::string>& probe_args, const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args{"--seccomp", policy, "--bind", data, "/tmp/data"};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_probe(args, probe_args);
    }
    std::string host(const std::string& rel) const { return read_file(data + rel); }
    bool exists(const std::string& rel) const {
        struct stat st{};
        return ::lstat((data + rel).c_str(), &st) == 0;
    }
};

TEST(OpenRules, AMagicLinkIsDecidedOnTheFileItReaches) {
    LinkTree t;
    RunResult r = t.run({"--fs", "open-r:/tmp/data/ro/file", "--fs", "open-append:/proc/self/fd/$fd",
                         "--fs", "open-r:/tmp/data/ro/file", "--fs", "open-append:/proc/thread-self/fd/$fd",
                         "--fs", "chdir:/tmp/data/secret", "--fs", "open-dir:/proc/self/cwd", "--fs", "open-r:/proc/self/cwd/file",
                         "--fs", "open-r:/proc/self/cwd/../secret/file", "--fs", "chdir:/tmp/data/ok",
                         "--fs", "open-r:/proc/self/cwd/../secret/file", "--fs", "open-dir:/proc/self/root/tmp/data/secret"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& fs = r.probe["fs"];
    EXPECT_EQ(fs["open-r:/tmp/data/ro/file"], "ok");
    for (const char* refused : {"open-append:/proc/self/fd/$fd", "open-append:/proc/thread-self/fd/$fd", "open-dir:/proc/self/cwd",
                                "open-r:/proc/self/cwd/file", "open-r:/proc/self/cwd/../secret/file",
                                "open-dir:/proc/self/root/tmp/data/secret"})
        EXPECT_EQ(fs[refused], "EACCES") << refused << ": " << fs.dump();
    EXPECT_EQ(fs["chdir:/tmp/data/secret"], "ok") << "chdir is not an open";
    EXPECT_EQ(t.host("/ro/file"), "READ-ONLY");
}

TEST(OpenRules, NoNameCanBeMadeToReachARefusedFile) {
    LinkTree t;
    RunResult r = t.run({"--fs", "link:/tmp/data/secret/file:/tmp/data/ok/hard", "--fs", "open-r:/tmp/data/ok/hard",
                         "--fs", "link:/tmp/data/ro/file:/tmp/data/ok/hard-ro", "--fs", "rename:/tmp/data/secret/file:/tmp/data/ok/moved",
                         "--fs", "rename:/tmp/data/ro/file:/tmp/data/ok/moved", "--fs", "rename:/tmp/data/secret:/tmp/data/ok/dir",
                         "--fs", "symlink:/tmp/data/secret/file:/tmp/data/ok/sym", "--fs", "open-r:/tmp/data/ok/sym",
                         "--fs", "truncate:/tmp/data/ro/file", "--fs", "unlink:/tmp/data/ro/file", "--fs", "unlink:/tmp/data/secret/file",
                         "--fs", "mkdir:/tmp/data/secret/d", "--fs", "symlink:/x:/tmp/data/secret/planted-link",
                         "--fs", "chdir:/tmp/data/ok", "--fs", "link:../secret/file:rel-hard", "--fs", "link:/proc/self/cwd/../secret/file:proc-hard"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& fs = r.probe["fs"];
    EXPECT_EQ(fs["link:/tmp/data/secret/file:/tmp/data/ok/hard"], "EXDEV") << fs.dump();
    EXPECT_EQ(fs["open-r:/tmp/data/ok/hard"], "ENOENT");
    EXPECT_EQ(fs["link:/tmp/data/ro/file:/tmp/data/ok/hard-ro"], "EXDEV") << "the new name would give it writes";
    EXPECT_EQ(fs["link:../secret/file:rel-hard"], "EXDEV");
    EXPECT_EQ(fs["link:/proc/self/cwd/../secret/file:proc-hard"], "EXDEV");
    EXPECT_EQ(fs["rename:/tmp/data/secret/file:/tmp/data/ok/moved"], "EACCES") << "its name may not be removed";
    EXPECT_EQ(fs["rename:/tmp/data/ro/file:/tmp/data/ok/moved"], "EACCES");
    EXPECT_EQ(fs["rename:/tmp/data/secret:/tmp/data/ok/dir"], "EACCES");
    EXPECT_EQ(fs["symlink:/tmp/data/secret/file:/tmp/data/ok/sym"], "ok") << "a symlink is text";
    EXPECT_EQ(fs["open-r:/tmp/data/ok/sym"], "EACCES") << "and what opens through it is decided where it leads";
    for (const char* refused : {"truncate:/tmp/data/ro/file", "unlink:/tmp/data/ro/file", "unlink:/tmp/data/secret/file",
                                "mkdir:/tmp/data/secret/d", "symlink:/x:/tmp/data/secret/planted-link"})
        EXPECT_EQ(fs[refused], "EACCES") << refused;
    EXPECT_EQ(t.host("/ro/file"), "READ-ONLY");
    EXPECT_EQ(t.host("/secret/file"), "SECRET");
    for (const char* gone : {"/ok/hard", "/ok/hard-ro", "/ok/moved", "/ok/dir", "/secret/d", "/secret/planted-link", "/ok/rel-hard",
                             "/ok/proc-hard"})
        EXPECT_FALSE(t.exists(gone)) << gone;
}

TEST(OpenRules, AnAnonymousFileCannotBePlantedInARefusedDirectory) {
    LinkTree t;
    RunResult r = t.run({"--fs", "chdir:/tmp/data/ok", "--fs", "tmpfile:/proc/self/cwd", "--fs",
                         "link-follow:/proc/self/fd/$fd:/tmp/data/secret/planted", "--fs", "tmpfile:/tmp/data/ok",
                         "--fs", "link-follow:/proc/self/fd/$fd:/tmp/data/ok/kept", "--fs", "tmpfile:/tmp/data/secret"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& fs = r.probe["fs"];
    EXPECT_EQ(fs["tmpfile:/proc/self/cwd"], "ok");
    EXPECT_EQ(fs["link-follow:/proc/self/fd/$fd:/tmp/data/secret/planted"], "EACCES");
    EXPECT_EQ(fs["tmpfile:/tmp/data/secret"], "EACCES");
    EXPECT_EQ(fs["link-follow:/proc/self/fd/$fd:/tmp/data/ok/kept"], "ok") << "O_TMPFILE's own use still works";
    EXPECT_FALSE(t.exists("/secret/planted"));
    EXPECT_TRUE(t.exists("/ok/kept"));
}

TEST(OpenRules, OrdinaryFileWorkStillWorksWhereTheRulesAllowIt) {
    LinkTree t;
    RunResult r = t.run({"--fs", "mkdir:/tmp/data/ok/d", "--fs", "open-r:/tmp/data/ro/file", "--fs", "symlink:file:/tmp/data/ok/d/l",
                         "--fs", "rename:/tmp/data/ok/d/l:/tmp/data/ok/d/m", "--fs", "unlink:/tmp/data/ok/d/m",
                         "--fs", "rmdir:/tmp/data/ok/d", "--fs", "link:/tmp/data/ro/file:/tmp/data/ro/again"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& fs = r.probe["fs"];
    for (const char* ok : {"mkdir:/tmp/data/ok/d", "symlink:file:/tmp/data/ok/d/l", "rename:/tmp/data/ok/d/l:/tmp/data/ok/d/m",
                           "unlink:/tmp/data/ok/d/m", "rmdir:/tmp/data/ok/d"})
        EXPECT_EQ(fs[ok], "ok") << ok << ": " << fs.dump();
    EXPECT_EQ(fs["link:/tmp/data/ro/file:/tmp/data/ro/again"], "EACCES") << "a new name in a read-only tree is a write";
}

// Opened for reading and writing: both must be allowed. A rule that refuses reading a
// directory and a default that allows the rest may not hand out its files through O_RDWR.
TEST(OpenRules, ReadingAndWritingAtOnceNeedsBoth) {
    TempDir dir;
    std::string data = dir.path() + "/data";
    ::mkdir(data.c_str(), 0777);
    ::mkdir((data + "/wo").c_str(), 0777);
    std::ofstream(data + "/wo/log") << "WRITE-ONLY";
    ::chmod((data + "/wo/log").c_str(), 0666);
    std::string policy = write_seccomp_policy(dir, "[open]\ndefault = \"allow\"\n[[open.rule]]\npath = \"/tmp/data/wo/**\"\n"
                                                   "access = \"read\"\naction = \"errno(EACCES)\"\n");
    RunResult r = run_probe({"--seccomp", policy, "--bind", data, "/tmp/data"},
                            {"--fs", "open-rw-read:/tmp/data/wo/log", "--fs", "open-append:/tmp/data/wo/log", "--read", "/tmp/data/wo/log",
                             "--fs", "open-path:/tmp"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto& fs = r.probe["fs"];
    EXPECT_EQ(fs["open-rw-read:/tmp/data/wo/log"], "EACCES");
    EXPECT_EQ(r.probe["reads"]["/tmp/data/wo/log"], "EACCES");
    EXPECT_EQ(fs["open-append:/tmp/data/wo/log"], "ok") << "writing alone is allowed";
    EXPECT_EQ(fs["open-path:/tmp"], "ok") << "an O_PATH descriptor opens nothing, and is had";
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
