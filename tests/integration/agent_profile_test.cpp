// The built-in `agent` profile, as an ordinary user in a project inside their home: the
// project read-write and the program started there, the rest read-only, the home's secrets
// hidden, no network, refusals said as they happen.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace caisson::test {
namespace {

TEST(AgentProfile, TheProjectIsWritableAndTheSecretsAreNot) {
    TempDir home(kUnprivilegedUid);
    const std::string project = home.path() + "/project", ssh = home.path() + "/.ssh";
    ASSERT_EQ(::mkdir(project.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(ssh.c_str(), 0700), 0);
    std::ofstream(ssh + "/id_rsa") << "PRIVATE KEY\n";
    std::ofstream(home.path() + "/notes.txt") << "visible\n";
    for (const std::string& p : {project, ssh, ssh + "/id_rsa", home.path() + "/notes.txt"})
        ASSERT_EQ(::chown(p.c_str(), kUnprivilegedUid, kUnprivilegedUid), 0) << p;
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    o.env = {"HOME=" + home.path()};
    o.wrapper = {"/usr/bin/env", "-C", project};
    RunResult r = run_probe({"--profile", "agent"},
                            {"--write", project + "/built.o", "--read", ssh + "/id_rsa", "--read", home.path() + "/notes.txt",
                             "--write", home.path() + "/notes.txt", "--write", "/usr/local/planted", "--try", "mount",
                             "--dial", "tcp:10.1.2.3:443"},
                            o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["cwd"], project);
    EXPECT_EQ(r.probe["writes"][project + "/built.o"], "ok");
    EXPECT_NE(r.probe["reads"][ssh + "/id_rsa"], "data") << r.probe["reads"].dump();
    EXPECT_EQ(r.probe["reads"][home.path() + "/notes.txt"], "data") << r.probe["reads"].dump();
    EXPECT_NE(r.probe["writes"][home.path() + "/notes.txt"], "ok");
    EXPECT_NE(r.probe["writes"]["/usr/local/planted"], "ok");
    EXPECT_EQ(r.probe["dials"]["tcp:10.1.2.3:443"], "ENETUNREACH");
    EXPECT_NE(r.err.find("caisson: refused mount"), std::string::npos) << "--monitor is on: " << r.err;
    struct stat st{};
    EXPECT_EQ(::stat((project + "/built.o").c_str(), &st), 0) << "the write reached the project";
}

// A repository's hooks and configuration are code git runs on the host at the user's next
// command (CVE-2024-32002's class, and any core.fsmonitor): read-only in the project, while
// what git stores stays writable.
TEST(AgentProfile, TheProjectsGitHooksAndConfigStayReadOnly) {
    TempDir project;
    const std::string git = project.path() + "/.git";
    // Open to every id, so that only the read-only binds refuse (the sandbox's ids are not ours).
    ASSERT_EQ(::chmod(project.path().c_str(), 0777), 0);
    for (const std::string& d : {git, git + "/hooks", git + "/objects"}) {
        ASSERT_EQ(::mkdir(d.c_str(), 0777), 0) << d;
        ASSERT_EQ(::chmod(d.c_str(), 0777), 0) << d;
    }
    std::ofstream(git + "/config") << "[core]\n\tbare = false\n";
    ASSERT_EQ(::chmod((git + "/config").c_str(), 0666), 0);
    RunOptions o;
    o.wrapper = {"/usr/bin/env", "-C", project.path()};
    RunResult r = run_probe({"--workdir"}, {"--write", git + "/hooks/post-checkout", "--write", git + "/config",
                                            "--write", git + "/objects/ab", "--write", project.path() + "/src.c"},
                            o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.probe["writes"][git + "/hooks/post-checkout"], "ok") << r.probe["writes"].dump();
    EXPECT_NE(r.probe["writes"][git + "/config"], "ok") << r.probe["writes"].dump();
    EXPECT_EQ(r.probe["writes"][git + "/objects/ab"], "ok") << r.probe["writes"].dump();
    EXPECT_EQ(r.probe["writes"][project.path() + "/src.c"], "ok") << r.probe["writes"].dump();
    EXPECT_EQ(read_file(git + "/config"), "[core]\n\tbare = false\n");
}

TEST(AgentProfile, WorkdirIsRefusedAtTheRoot) {
    RunOptions o;
    o.wrapper = {"/usr/bin/env", "-C", "/"};
    RunResult r = run_caisson({"run", "--workdir", "--", "/bin/true"}, o);
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("--workdir: the current directory / cannot be bound read-write: it is /"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace caisson::test
