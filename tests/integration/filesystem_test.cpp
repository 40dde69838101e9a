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

// A home of the test's own under /home, as a login user's would be (made, and removed after).
struct TestHome {
    std::string path;
    TestHome() {
        fs::create_directories("/home");
        char tmpl[] = "/home/caisson-test-XXXXXX";
        if (::mkdtemp(tmpl)) path = tmpl;
    }
    ~TestHome() {
        std::error_code ec;
        if (!path.empty()) fs::remove_all(path, ec);
    }
};

// With the host's root, the homes are empty (ssh keys, credentials, histories out of reach),
// but for what is bound inside them; --host-homes shows them as they are.
TEST(Filesystem, HomesAreEmptyButForWhatIsBound) {
    TestHome test_home;
    ASSERT_FALSE(test_home.path.empty());
    const std::string home = test_home.path;
    ASSERT_EQ(::chmod(home.c_str(), 0755), 0);
    fs::create_directories(home + "/.ssh");
    fs::create_directories(home + "/project");
    std::ofstream(home + "/.ssh/id_rsa") << "secret";
    std::ofstream(home + "/project/main.c") << "int main(){}";
    // Readable by the sandbox's ids (65534 as root), so that only hiding keeps them out.
    for (const char* dir : {"/.ssh", "/project"}) ASSERT_EQ(::chmod((home + dir).c_str(), 0755), 0);
    for (const char* file : {"/.ssh/id_rsa", "/project/main.c"}) ASSERT_EQ(::chmod((home + file).c_str(), 0644), 0);
    const std::string key = home + "/.ssh/id_rsa", code = home + "/project/main.c";

    TempDir out;
    const std::string report = out.path() + "/report.json";
    auto hidden = run_probe({"--report", report}, {"--read", key, "--read", code, "--read", "/root"});
    ASSERT_EQ(hidden.status, 0) << hidden.err;
    EXPECT_NE(read_file(report).find("hidden-homes /home"), std::string::npos) << "the report names what was hidden";
    EXPECT_EQ(hidden.probe["reads"][key], "ENOENT");
    EXPECT_EQ(hidden.probe["reads"][code], "ENOENT");

    auto bound = run_probe({"--ro-bind", home + "/project", home + "/project"}, {"--read", key, "--read", code, "--write", home + "/x"});
    ASSERT_EQ(bound.status, 0) << bound.err;
    EXPECT_EQ(bound.probe["reads"][code], "data");
    EXPECT_EQ(bound.probe["reads"][key], "ENOENT");
    EXPECT_EQ(bound.probe["writes"][home + "/x"], "EROFS") << "the empty home is read-only once the binds are in";

    auto shown = run_probe({"--host-homes"}, {"--read", key});
    ASSERT_EQ(shown.status, 0) << shown.err;
    EXPECT_EQ(shown.probe["reads"][key], "data");
}

// The directories the environment names outside the home (XDG, GnuPG) are hidden too, and a
// bind of a directory above a hidden one does not bring the hidden one back.
TEST(Filesystem, XdgDirectoriesAreHiddenAndABindAboveDoesNotShowThem) {
    TempDir top;
    fs::create_directories(top.path() + "/config");
    std::ofstream(top.path() + "/config/token") << "secret";
    std::ofstream(top.path() + "/visible") << "fine";
    ::chmod((top.path() + "/config").c_str(), 0755);
    ::chmod((top.path() + "/config/token").c_str(), 0644);
    ::chmod((top.path() + "/visible").c_str(), 0644);
    RunOptions o;
    o.env = {"XDG_CONFIG_HOME=" + top.path() + "/config"};
    // The test's TempDir lies in /tmp, which the sandbox replaces: bound at its own place.
    auto r = run_probe({"--ro-bind", top.path(), top.path()},
                       {"--read", top.path() + "/config/token", "--read", top.path() + "/visible"}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"][top.path() + "/visible"], "data");
    EXPECT_EQ(r.probe["reads"][top.path() + "/config/token"], "ENOENT");
}

// An ordinary user's own processes are open to its sandbox in the host's /proc: --share-pid
// would reach the hidden homes through /proc/PID/root, so it needs --host-homes.
TEST(Rootless, SharePidNeedsHostHomes) {
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    auto r = run_probe({"--share-pid"}, {}, o);
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("--host-homes"), std::string::npos) << r.err;
}

// --home: the caller's home ($HOME here) comes back read-only, with its secrets hidden.
TEST(Filesystem, HomeBringsTheHomeBackWithItsSecretsHidden) {
    TestHome test_home;
    ASSERT_FALSE(test_home.path.empty());
    const std::string home = test_home.path;
    for (const char* dir : {"", "/.ssh", "/project", "/.config", "/.config/gh"}) {
        fs::create_directories(home + dir);
        ASSERT_EQ(::chmod((home + dir).c_str(), 0755), 0);
    }
    for (const char* file : {"/.ssh/id_ed25519", "/.bash_history", "/project/main.c", "/.config/gh/hosts.yml", "/notes"}) {
        std::ofstream(home + file) << "text";
        ASSERT_EQ(::chmod((home + file).c_str(), 0644), 0);
    }
    RunOptions o;
    o.env = {"HOME=" + home};
    auto r = run_probe({"--home", "--home-mask", "notes"},
                       {"--read", home + "/project/main.c", "--read", home + "/.ssh/id_ed25519", "--read", home + "/.bash_history",
                        "--read", home + "/.config/gh/hosts.yml", "--read", home + "/notes", "--write", home + "/project/new"},
                       o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"][home + "/project/main.c"], "data");
    EXPECT_EQ(r.probe["reads"][home + "/.ssh/id_ed25519"], "ENOENT") << "a hidden directory is empty";
    EXPECT_EQ(r.probe["reads"][home + "/.bash_history"], "empty") << "a hidden file is empty";
    EXPECT_EQ(r.probe["reads"][home + "/.config/gh/hosts.yml"], "ENOENT");
    EXPECT_EQ(r.probe["reads"][home + "/notes"], "empty") << "--home-mask adds to the list";
    EXPECT_EQ(r.probe["writes"][home + "/project/new"], "EROFS");
    EXPECT_EQ(r.probe["env"]["HOME"], home) << "git, ssh and the shells look for the home there";
    auto bad = run_caisson({"run", "--home", "--home-mask", "../etc", "--", "/bin/true"}, o);
    EXPECT_EQ(bad.status, 125);
    EXPECT_NE(bad.err.find("--home-mask"), std::string::npos) << bad.err;
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

// firejail's CVE-2021-26910 class: --overlay-upper DIR of another user's, as root. Links its
// owner planted at DIR/upper and DIR/work would lead root's overlay elsewhere (its mount
// empties the work directory); caisson refuses them and leaves their targets alone.
TEST(Overlay, LinksAtTheKeptLayersArePlantedInVain) {
    TempDir base(kUnprivilegedUid), victim;
    ASSERT_EQ(::mkdir((victim.path() + "/work").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((victim.path() + "/work/keep").c_str(), 0755), 0);
    for (const char* layer : {"upper", "work"}) {
        TempDir clean(kUnprivilegedUid);
        ASSERT_EQ(::symlink((victim.path() + "/" + layer).c_str(), (clean.path() + "/" + layer).c_str()), 0);
        auto r = run_caisson({"run", "--overlay-upper", clean.path(), "--", "/bin/true"});
        EXPECT_NE(r.status, 0) << layer;
        EXPECT_NE(r.err.find(std::string("--overlay-upper ") + layer + "/"), std::string::npos) << r.err;
    }
    // DIR itself reached through a link (its owner swapped a component of its path): refused.
    TempDir parent(kUnprivilegedUid);
    ASSERT_EQ(::symlink(victim.path().c_str(), (parent.path() + "/layers").c_str()), 0);
    auto r = run_caisson({"run", "--overlay-upper", parent.path() + "/layers", "--", "/bin/true"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("--overlay-upper: link on path"), std::string::npos) << r.err;
    EXPECT_TRUE(fs::exists(victim.path() + "/work/keep"));
    EXPECT_FALSE(fs::exists(victim.path() + "/upper"));
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
