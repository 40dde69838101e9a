// Mounts: binds, tmpfs, symlinks, directories, a custom root, the overlay, and targets that
// try to lead out of the root.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace caisson::test {
namespace {

namespace fs = std::filesystem;


TEST(Filesystem, BindsReadOnlyAndReadWrite) {
    // As root, the sandbox's ids stand for host uid 65534: it writes where that uid may.
    TempDir ro, rw(kNobodyUid);
    std::ofstream(ro.path() + "/hello") << "hi";
    // Targets on the read-only root must exist: /mnt and /opt do; a tmpfs makes room too.
    auto r = run_probe({"--ro-bind", ro.path(), "/mnt", "--bind", rw.path(), "/opt", "--tmpfs", "/srv",
                        "--ro-bind", ro.path(), "/srv/deep/ro"},
                       {"--read", "/mnt/hello", "--write", "/mnt/new", "--write", "/opt/new", "--read",
                        "/srv/deep/ro/hello"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"]["/mnt/hello"], "data");
    EXPECT_EQ(r.probe["reads"]["/srv/deep/ro/hello"], "data");
    EXPECT_EQ(r.probe["writes"]["/mnt/new"], "EROFS");
    EXPECT_EQ(r.probe["writes"]["/opt/new"], "ok");
    EXPECT_EQ(read_file(rw.path() + "/new"), "probe\n");
}

TEST(Filesystem, TmpfsDirSymlinkInOrder) {
    auto r = run_caisson({"run", "--tmpfs", "/mnt:1M", "--dir", "/mnt/a/b", "--symlink", "a/b", "/mnt/link", "--",
                          "/bin/sh", "-c", "cd /mnt/link && pwd -P && df -k /mnt | tail -1 | awk '{print $2}'"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "/mnt/a/b\n1024\n");
}

TEST(Filesystem, BindTargetOnReadOnlyRootMustExist) {
    TempDir src;
    auto r = run_probe({"--bind", src.path(), "/no/such/place"});
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("/no/such/place"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.err;
}

TEST(Filesystem, CustomRootfs) {
    TempDir root;
    make_mini_rootfs(root.path());
    auto r = run_caisson({"run", "--rootfs", root.path(), "--", "/probe", "--write", "/etc/x"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["writes"]["/etc/x"], "EROFS");
    EXPECT_EQ(r.probe["pid"], 2);
    // /bin/sh is not in this root.
    auto missing = run_caisson({"run", "--rootfs", root.path(), "--", "/bin/sh", "-c", "true"});
    EXPECT_EQ(missing.status, 127);
    EXPECT_NE(missing.err.find("exec: /bin/sh: No such file or directory"), std::string::npos) << missing.err;
}

TEST(Filesystem, SymlinksInTheRootStayInsideTheRoot) {
    // A hostile rootfs: /escape points at "/", /up climbs far above the root. Targets through
    // them must land inside the root (RESOLVE_IN_ROOT), never in the host's /etc.
    TempDir root(kNobodyUid), src;
    make_mini_rootfs(root.path(), kNobodyUid);
    fs::create_symlink("/", root.path() + "/escape");
    fs::create_symlink("../../../../../../../etc", root.path() + "/up");
    std::ofstream(src.path() + "/payload") << "x";
    auto r = run_caisson({"run", "--rootfs", root.path(), "--writable-root", "--bind", src.path(),
                          "/escape/etc/caisson-evil", "--tmpfs", "/up/caisson-evil-tmp", "--", "/probe"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(fs::exists("/etc/caisson-evil"));
    EXPECT_FALSE(fs::exists("/etc/caisson-evil-tmp"));
    EXPECT_TRUE(fs::is_directory(root.path() + "/etc/caisson-evil"));
    EXPECT_TRUE(fs::is_directory(root.path() + "/etc/caisson-evil-tmp"));
}

TEST(Overlay, WritesVanishAfterExit) {
    // As root the program keeps the rights of host uid 65534: it writes where that uid may
    // (here /var/tmp, whose parent /var is copied up by the overlay) and nowhere else.
    auto r = run_caisson({"run", "--overlay", "--", "/bin/sh", "-c",
                          "echo hi > /var/tmp/caisson-overlay && cat /var/tmp/caisson-overlay; "
                          "head -c1 /etc/shadow 2>/dev/null || echo no-shadow; "
                          "touch /etc/caisson-overlay 2>/dev/null || echo no-etc"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "hi\nno-shadow\nno-etc\n");
    EXPECT_FALSE(fs::exists("/var/tmp/caisson-overlay"));
}

TEST(Overlay, RootCanWriteEverywhereOnlyWhenAsked) {
    auto r = run_caisson({"run", "--overlay", "--share-user", "--map-host-root", "--", "/bin/sh", "-c",
                          "echo hi > /etc/caisson-overlay && cat /etc/caisson-overlay"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "hi\n");
    EXPECT_FALSE(fs::exists("/etc/caisson-overlay"));
}

TEST(Overlay, SizeLimitsTheUpperLayer) {
    auto r = run_caisson({"run", "--overlay", "--overlay-size", "1M", "--", "/bin/sh", "-c",
                          "head -c 4000000 /dev/zero > /var/tmp/big; echo $?"});
    EXPECT_EQ(r.out, "1\n") << r.err;
}

TEST(Overlay, UpperDirIsKept) {
    TempDir keep;
    auto r = run_caisson({"run", "--overlay-upper", keep.path(), "--", "/bin/sh", "-c",
                          "echo kept > /var/tmp/caisson-kept && cp /bin/true /var/tmp/suid && chmod 4755 /var/tmp/suid"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(read_file(keep.path() + "/upper/var/tmp/caisson-kept"), "kept\n");
    EXPECT_FALSE(fs::exists("/var/tmp/caisson-kept"));
    // What the sandbox writes is owned by its host uid, never by the host's root: a setuid
    // file it leaves in the kept layer grants nothing.
    struct stat st{};
    ASSERT_EQ(::stat((keep.path() + "/upper/var/tmp/suid").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u);
}

TEST(Overlay, RootlessOverAUserOwnedRoot) {
    TempDir root(kUnprivilegedUid);
    make_mini_rootfs(root.path(), kUnprivilegedUid);
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    CAISSON_REQUIRE("user namespaces", o);
    auto r = run_caisson({"run", "--rootfs", root.path(), "--overlay", "--", "/probe", "--write", "/etc/new"}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["writes"]["/etc/new"], "ok");
    EXPECT_FALSE(fs::exists(root.path() + "/etc/new"));
}

TEST(Overlay, RootlessOverTheHostRootSaysWhy) {
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    auto r = run_caisson({"run", "--overlay", "--", "/bin/true"}, o);
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("--rootfs"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace caisson::test
