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

TEST(AgentProfile, WorkdirIsRefusedAtTheRoot) {
    RunOptions o;
    o.wrapper = {"/usr/bin/env", "-C", "/"};
    RunResult r = run_caisson({"run", "--workdir", "--", "/bin/true"}, o);
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("--workdir: the current directory / cannot be bound read-write: it is /"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace caisson::test
