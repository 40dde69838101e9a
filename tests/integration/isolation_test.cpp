// What a program sees inside `caisson run` with the defaults, and with each namespace flag.
#include "harness.hpp"

#include <gtest/gtest.h>
#include <csignal>
#include <fcntl.h>
#include <sys/wait.h>
#include <grp.h>
#include <cstring>
#include <sys/syscall.h>

#include <optional>
#include <sstream>

#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace caisson::test {
namespace {

using nlohmann::json;

const json* find_mount(const json& probe, const std::string& target) {
    const json* found = nullptr;
    for (const auto& m : probe["mounts"])
        if (m["target"] == target) found = &m;  // the last one is on top
    return found;
}

bool has_option(const json& mount, const std::string& opt) {
    std::string opts = "," + mount["options"].get<std::string>() + ",";
    return opts.find("," + opt + ",") != std::string::npos;
}

// The caller's supplementary groups are files' keys on the host: root's (gid 0, disk, adm...)
// must not follow the sandbox's nobody. An ordinary user's maps must deny setgroups (the
// kernel's rule), so that user's groups stay, as in every unprivileged sandbox.
TEST(Isolation, RootsSupplementaryGroupsStayOutside) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is not installed";
    TempDir dir;
    const std::string secret = dir.path() + "/group-0-only";
    {
        std::ofstream(secret) << "for gid 0";
    }
    ASSERT_EQ(::chown(secret.c_str(), 12345, 0), 0);
    ASSERT_EQ(::chmod(secret.c_str(), 0040), 0);  // readable by group 0 only
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    RunOptions o;
    o.wrapper = {"/usr/bin/setpriv", "--groups", "0,4", "--"};
    auto r = run_probe({"--ro-bind", secret, "/tmp/secret"}, {"--read", "/tmp/secret"}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["status"]["Groups"], "") << "supplementary groups inside";
    EXPECT_NE(r.probe["setgroups"].get<std::string>().find("allow"), std::string::npos) << "root's maps leave it to init";
    EXPECT_NE(r.probe["reads"]["/tmp/secret"].get<std::string>().find("EACCES"), std::string::npos) << r.probe["reads"].dump();

    RunOptions user;
    user.as_uid = kUnprivilegedUid;
    auto u = run_probe({}, {}, user);
    ASSERT_EQ(u.status, 0) << u.err;
    EXPECT_NE(u.probe["setgroups"].get<std::string>().find("deny"), std::string::npos);
}

TEST(Isolation, DefaultsIsolateEverything) {
    auto r = run_probe({}, {"--write", "/etc/caisson-probe", "--write", "/tmp/x", "--read", "/proc/timer_list", "--read", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                            "--read", "/proc/1/exe"});
    ASSERT_EQ(r.status, 0) << r.err;
    const json& p = r.probe;
    // PID 1 is caisson's init; the program is its child.
    EXPECT_EQ(p["pid"], 2);
    EXPECT_EQ(p["ppid"], 1);
    EXPECT_EQ(p["hostname"], "caisson");
    ASSERT_EQ(p["interfaces"].size(), 1u) << p["interfaces"].dump();
    EXPECT_EQ(p["interfaces"]["lo"]["up"], true);
    for (const char* ns : {"user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"})
        EXPECT_NE(p["ns"][ns], host_ns(ns)) << ns;
    // Identity: root inside, nobody outside, no supplementary group (root's dropped by init).
    EXPECT_EQ(p["uid"], 0);
    EXPECT_EQ(p["uid_map"].get<std::string>().find("65534"), p["uid_map"].get<std::string>().rfind("65534"));
    EXPECT_NE(p["uid_map"].get<std::string>().find("0      65534          1"), std::string::npos) << p["uid_map"];
    EXPECT_EQ(p["status"]["Groups"], "") << "supplementary groups";
    // Least privilege.
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
        EXPECT_EQ(p["status"][set], "0000000000000000") << set;
    EXPECT_EQ(p["status"]["NoNewPrivs"], "1");
    // Only 0, 1, 2.
    ASSERT_EQ(p["fds"].size(), 3u) << p["fds"].dump();
    // No controlling terminal: a session of its own.
    EXPECT_EQ(p["sid"], p["pid"]);
    EXPECT_EQ(p["has_ctty"], false);
    // The filesystem.
    const json* root = find_mount(p, "/");
    ASSERT_TRUE(root);
    EXPECT_TRUE(has_option(*root, "ro"));
    EXPECT_TRUE(has_option(*root, "nosuid"));
    EXPECT_TRUE(has_option(*root, "nodev"));
    EXPECT_EQ(p["writes"]["/etc/caisson-probe"], "EROFS");
    EXPECT_EQ(p["writes"]["/tmp/x"], "ok");
    EXPECT_FALSE(std::filesystem::exists("/etc/caisson-probe"));
    EXPECT_EQ((*find_mount(p, "/proc"))["fstype"], "proc");
    EXPECT_EQ((*find_mount(p, "/tmp"))["fstype"], "tmpfs");
    EXPECT_EQ((*find_mount(p, "/dev"))["fstype"], "tmpfs");
    EXPECT_TRUE(has_option(*find_mount(p, "/dev"), "ro"));
    EXPECT_EQ((*find_mount(p, "/dev/pts"))["fstype"], "devpts");
    EXPECT_EQ((*find_mount(p, "/sys"))["fstype"], "sysfs");
    EXPECT_TRUE(has_option(*find_mount(p, "/sys"), "ro"));
    EXPECT_TRUE(has_option(*find_mount(p, "/proc/sys"), "ro"));
    // Masked: /proc/kcore is /dev/null; init's executable is out of reach (CVE-2019-5736).
    EXPECT_EQ(p["reads"]["/proc/timer_list"], "empty");
    EXPECT_EQ(p["reads"]["/proc/1/exe"], "EACCES");
    // The host's cgroup filesystems are out of reach under the fresh sysfs. (mountinfo still
    // lists them below it: in a user namespace they are locked to the host's /sys.)
    EXPECT_EQ(p["reads"]["/sys/fs/cgroup/memory/memory.limit_in_bytes"], "ENOENT");
    // The environment is minimal.
    std::set<std::string> keys;
    for (auto& [k, v] : p["env"].items()) keys.insert(k);
    EXPECT_EQ(keys, (std::set<std::string>{"HOME", "LANG", "PATH", "TERM"}));
}

TEST(Isolation, MinimalDev) {
    auto r = run_caisson({"run", "--", "/bin/ls", "-A", "/dev"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "fd\nfull\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n");
    auto w = run_caisson({"run", "--", "/bin/sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c"});
    EXPECT_EQ(w.out, "4\n") << w.err;
}

class ShareFlag : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(ShareFlag, KeepsTheHostsNamespace) {
    auto [flag, ns] = GetParam();
    auto r = run_probe({"--" + flag});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["ns"][ns], host_ns(ns));
    // The others stay new.
    for (const char* other : {"pid", "net", "uts", "ipc", "cgroup", "time"})
        if (other != ns) {
            EXPECT_NE(r.probe["ns"][other], host_ns(other)) << other;
        }
}

INSTANTIATE_TEST_SUITE_P(AllButUserAndMount, ShareFlag,
                         ::testing::Values(std::pair{"share-pid", "pid"}, std::pair{"share-net", "net"},
                                           std::pair{"share-uts", "uts"}, std::pair{"share-ipc", "ipc"},
                                           std::pair{"share-cgroup", "cgroup"}, std::pair{"share-time", "time"}));

TEST(Isolation, ShareNetSeesHostInterfaces) {
    auto r = run_probe({"--share-net"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GT(r.probe["interfaces"].size(), 1u);
}

TEST(Isolation, ShareUserAsRootKeepsHostIds) {
    auto r = run_probe({"--share-user"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["ns"]["user"], host_ns("user"));
    EXPECT_EQ(r.probe["status"]["CapEff"], "0000000000000000");
    // Without a user namespace, root inside would be the host's root: it is not, unless asked.
    EXPECT_EQ(r.probe["uid"], 65534);
    EXPECT_EQ(r.probe["gid"], 65534);
    auto id = run_probe({"--share-user", "--uid", "1000", "--gid", "1000"});
    ASSERT_EQ(id.status, 0) << id.err;
    EXPECT_EQ(id.probe["uid"], 1000);
    EXPECT_EQ(id.probe["status"]["CapBnd"], "0000000000000000");
    auto root = run_probe({"--share-user", "--map-host-root"});
    EXPECT_EQ(root.probe["uid"], 0);
    EXPECT_EQ(root.probe["status"]["CapEff"], "0000000000000000");
}

// CVE-2019-5736: a program running as the host's root could rewrite caisson's binary through
// "#!/proc/self/exe"; caisson then runs from a read-only copy of itself (and the default,
// whose root is an unprivileged host id, costs nothing: it runs from the file as it is).
TEST(Isolation, AProgramThatCouldRewriteCaissonFindsOnlyAReadOnlyCopy) {
    struct statvfs vfs{};
    ASSERT_EQ(::statvfs(caisson_path(), &vfs), 0);
    if (vfs.f_flag & ST_RDONLY) GTEST_SKIP() << "caisson's binary is on a read-only mount already";
    auto runs_read_only = [](std::vector<std::string> args) {
        bool read_only = false;
        RunOptions o;
        o.on_ready = [&](pid_t caisson) {
            struct statvfs exe{};
            read_only = ::statvfs(("/proc/" + std::to_string(caisson) + "/exe").c_str(), &exe) == 0 && (exe.f_flag & ST_RDONLY);
            ::kill(caisson, SIGUSR1);
        };
        auto r = run_probe(args, {"--wait-signal"}, o);
        EXPECT_EQ(r.status, 0) << r.err;
        return read_only;
    };
    EXPECT_TRUE(runs_read_only({"--share-user", "--map-host-root"}));
    struct stat st{};
    ASSERT_EQ(::stat(caisson_path(), &st), 0);
    if (st.st_uid == 0 && !(st.st_mode & S_IWOTH)) {
        EXPECT_FALSE(runs_read_only({}));
    }
}

// The same for caisson run: under a policy that lets keyctl through, the program holds a
// session keyring of its own, not its caller's; under the default (which refuses keyctl)
// none is made.
TEST(Isolation, AProgramAllowedKeyctlHoldsASessionKeyringOfItsOwn) {
    const long mine = ::syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 1);
    if (mine < 0 && (errno == ENOSYS || errno == EPERM || errno == EACCES))
        GTEST_SKIP() << "keyctl is not there for this process (" << strerrorname_np(errno) << "): nothing to share";
    ASSERT_GT(mine, 0) << std::strerror(errno);
    TempDir dir;
    const std::string policy = write_seccomp_policy(dir, "[[rule]]\nsyscall = \"keyctl\"\naction = \"allow\"\n");
    for (const std::vector<std::string>& run : {std::vector<std::string>{"--seccomp", policy}, std::vector<std::string>{"--seccomp", "none"}}) {
        auto r = run_probe(run, {"--session-keyring"});
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_NE(r.probe["session_keyring"], std::to_string(mine)) << "the program holds its caller's keyring";
        EXPECT_EQ(r.probe["session_keyring"].get<std::string>().find_first_not_of("0123456789"), std::string::npos) << r.probe;
    }
    auto d = run_probe({}, {"--session-keyring"});
    ASSERT_EQ(d.status, 0) << d.err;
    EXPECT_EQ(d.probe["session_keyring"], "EPERM") << "the default policy refuses keyctl";
}

// Without a pid namespace the host's processes are in the sandbox's /proc: those of the
// program's host uid (65534 here: other root-run sandboxes, nobody's daemons) must stay out of
// its reach, their /proc/PID entries (root, environ) and their signals, by a Landlock domain.
TEST(Isolation, SharingThePidNamespaceLeavesTheHostsProcessesOutOfReach) {
    int ready[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    pid_t host = ::fork();
    ASSERT_GE(host, 0);
    if (host == 0) {
        // A host process of the uid the sandbox runs as.
        if (::setgroups(0, nullptr) < 0 || ::setresgid(kNobodyUid, kNobodyUid, kNobodyUid) < 0 ||
            ::setresuid(kNobodyUid, kNobodyUid, kNobodyUid) < 0)
            ::_exit(1);
        ::close(ready[0]);
        ::close(ready[1]);
        for (;;) ::pause();
    }
    ::close(ready[1]);
    char byte;
    ASSERT_EQ(::read(ready[0], &byte, 1), 0);  // closed: its ids are changed
    ::close(ready[0]);
    const std::string p = "/proc/" + std::to_string(host);
    auto r = run_probe({"--share-pid"}, {"--read", p + "/environ", "--read", p + "/root/etc/hostname", "--try", "signal:" + std::to_string(host)});
    ::kill(host, SIGKILL);
    ::waitpid(host, nullptr, 0);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"][p + "/environ"], "EACCES") << r.probe["reads"];
    EXPECT_EQ(r.probe["reads"][p + "/root/etc/hostname"], "EACCES") << r.probe["reads"];
    EXPECT_EQ(r.probe["tries"]["signal:" + std::to_string(host)], "EPERM") << r.probe["tries"];
}

TEST(Isolation, Hostname) {
    auto r = run_probe({"--hostname", "judge-7"});
    EXPECT_EQ(r.probe["hostname"], "judge-7");
}

TEST(Isolation, TimeOffsetsShiftTheClocks) {
    timespec mono{}, boot{};
    ::clock_gettime(CLOCK_MONOTONIC, &mono);
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    auto r = run_probe({"--time-offset", "monotonic=86400,boottime=3600"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GE(r.probe["monotonic_s"].get<long>(), mono.tv_sec + 86400);
    EXPECT_LT(r.probe["monotonic_s"].get<long>(), mono.tv_sec + 86400 + 60);
    EXPECT_GE(r.probe["boottime_s"].get<long>(), boot.tv_sec + 3600);
    EXPECT_NE(r.probe["timens_offsets"].get<std::string>().find("86400"), std::string::npos);
}

TEST(Identity, UidAndGidInside) {
    auto r = run_probe({"--uid", "1000", "--gid", "1001"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["uid"], 1000);
    EXPECT_EQ(r.probe["gid"], 1001);
    EXPECT_NE(r.probe["uid_map"].get<std::string>().find("1000      65534"), std::string::npos) << r.probe["uid_map"];
    EXPECT_EQ(r.probe["status"]["CapEff"], "0000000000000000");
}

TEST(Identity, HostUidChoosesTheHostSide) {
    auto r = run_probe({"--host-uid", "3000", "--host-gid", "3000"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.probe["uid_map"].get<std::string>().find("3000"), std::string::npos);
    auto bad = run_probe({"--host-uid", "0"});
    EXPECT_EQ(bad.status, 125);
    EXPECT_NE(bad.err.find("--map-host-root"), std::string::npos) << bad.err;
}

TEST(Rootless, OrdinaryUserMapsItsOwnId) {
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    CAISSON_REQUIRE("user namespaces", o);
    auto r = run_probe({}, {"--write", "/tmp/x"}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["uid"], 0);
    EXPECT_NE(r.probe["uid_map"].get<std::string>().find(std::to_string(kUnprivilegedUid)), std::string::npos);
    EXPECT_EQ(r.probe["pid"], 2);
    EXPECT_EQ(r.probe["hostname"], "caisson");
    EXPECT_EQ(r.probe["writes"]["/tmp/x"], "ok");
    EXPECT_EQ(r.probe["status"]["CapEff"], "0000000000000000");
    for (const char* ns : {"user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"})
        EXPECT_NE(r.probe["ns"][ns], host_ns(ns)) << ns;
}

// Root of a user namespace that maps one id (`unshare -r`, as root and as an ordinary user)
// has no nobody to give the sandbox and no ids to own its namespace with: it runs the
// sandbox as the ordinary user it is on the host, mapping its own id.
TEST(Rootless, RootOfANamespaceThatMapsOneIdRunsAsTheUserItIs) {
    for (std::optional<uid_t> as : {std::optional<uid_t>(), std::optional<uid_t>(kUnprivilegedUid)}) {
        RunOptions o;
        o.as_uid = as;
        CAISSON_REQUIRE("user namespaces", o);
        o.wrapper = {"/usr/bin/unshare", "-r"};
        auto r = run_probe({}, {"--write", "/tmp/x"}, o);
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.probe["uid"], 0);
        std::istringstream map(r.probe["uid_map"].get<std::string>());
        unsigned inside = 9, outside = 9, count = 9;
        map >> inside >> outside >> count;
        EXPECT_TRUE(inside == 0 && outside == 0 && count == 1) << "inside 0 is the outer namespace's 0: " << r.probe["uid_map"];
        EXPECT_EQ(r.probe["pid"], 2);
        EXPECT_EQ(r.probe["writes"]["/tmp/x"], "ok");
        EXPECT_EQ(r.probe["status"]["CapEff"], "0000000000000000");
        for (const char* ns : {"user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"})
            EXPECT_NE(r.probe["ns"][ns], host_ns(ns)) << ns;
    }
}

TEST(Rootless, OrdinaryUserCannotClaimOtherIds) {
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    auto r = run_probe({"--host-uid", "0"}, {}, o);
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("only its own"), std::string::npos) << r.err;
    auto root = run_probe({"--map-host-root"}, {}, o);
    EXPECT_EQ(root.status, 125);
}

}  // namespace
}  // namespace caisson::test
