// CVE-2019-5736 in the library face: whether a sandbox's program could rewrite the binary of
// the process that runs it ("#!/proc/self/exe" runs that binary inside), and run() failing
// closed when it could. Nothing is started.
#include "mech/companion.hpp"

#include <caisson/error.hpp>
#include <caisson/sandbox.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace caisson {
namespace {

TEST(OwnBinary, AProgramAsTheHostsRootExposesItAndRunRefuses) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (the program must run as the host's root)";
    struct statvfs vfs{};
    struct stat st{};
    ASSERT_EQ(::statvfs("/proc/self/exe", &vfs), 0);
    ASSERT_EQ(::stat("/proc/self/exe", &st), 0);
    if (vfs.f_flag & ST_RDONLY) GTEST_SKIP() << "this test binary is on a read-only mount, which nothing can write";
    Policy p = default_policy();
    p.namespaces.user = false;
    p.identity.map_host_root = true;
    p.process.argv = {"/bin/true"};
    Sandbox exposed(p);
    EXPECT_TRUE(exposed.exposes_own_binary());
    try {
        exposed.run();
        ADD_FAILURE() << "run() started a program that could rewrite this binary";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::Usage);
        EXPECT_NE(std::string(e.what()).find("CVE-2019-5736"), std::string::npos) << e.what();
    }
    // The default maps the sandbox's root to an unprivileged host id, which cannot write a
    // root-owned binary (unless it is writable by anyone).
    if (st.st_uid == 0 && !(st.st_mode & S_IWOTH) && !(st.st_mode & S_IWGRP)) {
        EXPECT_FALSE(Sandbox(default_policy()).exposes_own_binary());
        // An unprivileged host id, but a capability kept in the host's user namespace
        // (CAP_DAC_OVERRIDE = 1): a way to the file all the same.
        Policy capable = default_policy();
        capable.namespaces.user = false;
        EXPECT_FALSE(Sandbox(capable).exposes_own_binary());
        capable.capabilities = {1};
        EXPECT_TRUE(Sandbox(capable).exposes_own_binary());
    }
}

// The companions root runs (the egress proxy, caisson-net) must be root's alone: a file
// another user could rewrite, or swap in its directory, would run as root.
TEST(OwnBinary, ACompanionRootRunsMustBeRootsAlone) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (files of root's and of another owner)";
    char tmpl[] = "/tmp/caisson-companion-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl, file = dir + "/helper";
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
    std::ofstream(file) << "#!/bin/true\n";
    ASSERT_EQ(::chmod(file.c_str(), 0755), 0);
    EXPECT_EQ(mech::require_root_owned(file, "start"), file);
    auto refused = [&](const std::string& why) {
        try {
            mech::require_root_owned(file, "start");
            ADD_FAILURE() << "accepted: " << why;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("owned by root that no one else may write"), std::string::npos) << e.what();
        }
    };
    ASSERT_EQ(::chmod(file.c_str(), 0775), 0);
    refused("a file its group may write");
    ASSERT_EQ(::chmod(file.c_str(), 0755), 0);
    ASSERT_EQ(::chown(file.c_str(), 65534, 65534), 0);
    refused("a file of another owner");
    ASSERT_EQ(::chown(file.c_str(), 0, 0), 0);
    ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
    refused("a directory anyone may write");
    ASSERT_EQ(::chmod(dir.c_str(), 01777), 0);  // sticky: no one else renames root's file
    EXPECT_EQ(mech::require_root_owned(file, "start"), file);
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
    // A directory further up that another user owns: its owner could rename the one below.
    ASSERT_EQ(::mkdir((dir + "/sub").c_str(), 0755), 0);
    ASSERT_EQ(::rename(file.c_str(), (dir + "/sub/helper").c_str()), 0);
    EXPECT_EQ(mech::require_root_owned(dir + "/sub/helper", "start"), dir + "/sub/helper");
    ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
    try {
        mech::require_root_owned(dir + "/sub/helper", "start");
        ADD_FAILURE() << "accepted: a file two levels below another user's directory";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(dir + " must be a directory owned by root"), std::string::npos) << e.what();
    }
    ASSERT_EQ(::chown(dir.c_str(), 0, 0), 0);
    ASSERT_EQ(::rename((dir + "/sub/helper").c_str(), file.c_str()), 0);
    ASSERT_EQ(::rmdir((dir + "/sub").c_str()), 0);
    // A link is followed, and what it leads to is what is judged and run.
    ASSERT_EQ(::symlink(file.c_str(), (dir + "/link").c_str()), 0);
    EXPECT_EQ(mech::require_root_owned(dir + "/link", "start"), file);
    ASSERT_EQ(::unlink((dir + "/link").c_str()), 0);
    EXPECT_THROW(mech::require_root_owned(dir + "/missing", "start"), Error);
    ASSERT_EQ(::unlink(file.c_str()), 0);
    ASSERT_EQ(::rmdir(dir.c_str()), 0);
}

}  // namespace
}  // namespace caisson
