// CVE-2019-5736 in the library face: whether a sandbox's program could rewrite the binary of
// the process that runs it ("#!/proc/self/exe" runs that binary inside), and run() failing
// closed when it could. Nothing is started.
#include <caisson/error.hpp>
#include <caisson/sandbox.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

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

}  // namespace
}  // namespace caisson
