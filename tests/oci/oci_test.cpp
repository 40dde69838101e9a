// caisson-oci against the runtime-spec, field by field: each test writes a bundle that uses
// a field and checks its effect from inside (the probe, or busybox) or from outside (state,
// the pid file, hooks' stdin, the console socket).
#include "oci_bundle.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <linux/magic.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

namespace caisson::test {
namespace {

using nlohmann::json;

// `run` of a shell command inside: its stdout.
std::string sh(Bundle& b, const std::string& cmd, int* status = nullptr, const std::string& id = "c") {
    b.config["process"]["args"] = {"/bin/sh", "-c", cmd};
    RunResult r = b.oci("run", {"--bundle", b.path()}, id);
    if (status) *status = r.status;
    else EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
}

// A field of this process's /proc/self/status, as the probe reports it.
std::string own_status_field(const std::string& name) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + ":\t", 0) == 0) return line.substr(name.size() + 2);
    return "";
}

bool exists(const std::string& p) {
    struct stat st{};
    return ::lstat(p.c_str(), &st) == 0;
}

json mount_at(const json& probe, const std::string& target) {
    json found;
    for (const auto& m : probe["mounts"])
        if (m["target"] == target) found = m;
    return found;
}

TEST(OciRun, TheProcessIsPidOneInItsOwnNamespacesAndItsExitCodeIsReturned) {
    Bundle b;
    RunResult r = b.run({"--exit", "7"});
    ASSERT_EQ(r.status, 7) << r.err;
    EXPECT_EQ(r.probe["pid"], 1);
    for (const char* ns : {"pid", "mnt", "net", "uts", "ipc", "cgroup"}) EXPECT_NE(r.probe["ns"][ns], host_ns(ns)) << ns;
    EXPECT_EQ(r.probe["ns"]["user"], host_ns("user"));  // the default config has no user namespace
    EXPECT_EQ(r.probe["hostname"], "caisson");
    EXPECT_FALSE(exists(b.root() + "/c")) << "run deletes the container";
}

TEST(OciRun, ProcessUserCwdEnvAndUmask) {
    Bundle b;
    b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1001}, {"additionalGids", {5, 6}}, {"umask", 077}};
    b.config["process"]["cwd"] = "/tmp";
    b.config["process"]["env"] = {"PATH=/bin", "CAISSON_OCI=yes"};
    RunResult r = b.run();
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["uid"], 1000);
    EXPECT_EQ(r.probe["gid"], 1001);
    std::string groups = r.probe["status"]["Groups"];  // the kernel ends the list with a space
    EXPECT_EQ(groups.substr(0, groups.find_last_not_of(' ') + 1), "5 6");
    EXPECT_EQ(r.probe["umask"], 077);
    EXPECT_EQ(r.probe["cwd"], "/tmp");
    EXPECT_EQ(r.probe["env"]["CAISSON_OCI"], "yes");
    EXPECT_EQ(r.probe["env"]["HOME"], "/") << "HOME is set when the config has none";
    EXPECT_EQ(r.probe["env"].size(), 3u) << "nothing of the runtime's environment leaks in";
}

TEST(OciRun, TheFiveCapabilitySetsAreAsWritten) {
    Bundle b;
    b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
    // CAP_CHOWN (0), CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_SYS_ADMIN (21)
    b.config["process"]["capabilities"] = {{"bounding", {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
                                           {"permitted", {"CAP_KILL", "CAP_NET_BIND_SERVICE"}},
                                           {"effective", {"CAP_KILL"}},
                                           {"inheritable", {"CAP_NET_BIND_SERVICE"}},
                                           {"ambient", {"CAP_NET_BIND_SERVICE"}}};
    b.config["process"]["noNewPrivileges"] = false;
    RunResult r = b.run();
    ASSERT_EQ(r.status, 0) << r.err;
    // After exec by a non-root user: P' = ambient, E' = ambient, I kept, bounding kept.
    EXPECT_EQ(r.probe["status"]["CapBnd"], "0000000000000421");
    EXPECT_EQ(r.probe["status"]["CapInh"], "0000000000000400");
    EXPECT_EQ(r.probe["status"]["CapAmb"], "0000000000000400");
    EXPECT_EQ(r.probe["status"]["CapPrm"], "0000000000000400");
    EXPECT_EQ(r.probe["status"]["CapEff"], "0000000000000400");
    EXPECT_EQ(r.probe["status"]["NoNewPrivs"], "0");
}

TEST(OciRun, RootGetsItsBoundingSetAndNoNewPrivilegesHolds) {
    Bundle b;
    RunResult r = b.run({"--try", "mount"});
    ASSERT_EQ(r.status, 0) << r.err;
    // spec's default: AUDIT_WRITE, KILL, NET_BIND_SERVICE
    EXPECT_EQ(r.probe["status"]["CapEff"], "0000000020000420");
    EXPECT_EQ(r.probe["status"]["NoNewPrivs"], "1");
    EXPECT_EQ(r.probe["tries"]["mount"], "EPERM");
}

TEST(OciRun, RlimitsOomScoreAdjAndPersonality) {
    Bundle b;
    b.config["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 321}, {"hard", 654}},
                                      {{"type", "RLIMIT_CORE"}, {"soft", 0}, {"hard", 0}}};
    b.config["process"]["oomScoreAdj"] = 345;
    b.config["linux"]["personality"] = {{"domain", "LINUX32"}};
    std::string out = sh(b, "cat /proc/self/oom_score_adj; uname -m; cat /proc/self/limits | grep 'open files'");
    EXPECT_NE(out.find("345\n"), std::string::npos) << out;
    EXPECT_NE(out.find("i686"), std::string::npos) << out;
    EXPECT_NE(out.find("321                  654"), std::string::npos) << out;
}

TEST(OciRun, RootReadonlyAndAWritableRoot) {
    Bundle b;
    RunResult ro = b.run({"--write", "/etc/x"});
    EXPECT_EQ(ro.probe["writes"]["/etc/x"], "EROFS");
    b.config["root"]["readonly"] = false;
    RunResult rw = b.run({"--write", "/etc/x"}, "c2");
    EXPECT_EQ(rw.probe["writes"]["/etc/x"], "ok");
    EXPECT_TRUE(exists(b.rootfs() + "/etc/x")) << "a writable root is the bundle's rootfs itself";
}

TEST(OciRun, MountsWithTheirOptionsInOrder) {
    Bundle b;
    TempDir host;
    std::ofstream(host.path() + "/file") << "from the host\n";
    auto& m = b.config["mounts"];
    m.push_back({{"destination", "/data"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"size=1m", "mode=700", "noexec", "nosuid"}}});
    m.push_back({{"destination", "/host"}, {"type", "bind"}, {"source", host.path()}, {"options", {"rbind", "ro", "nodev"}}});
    m.push_back({{"destination", "/data/inner"}, {"type", "bind"}, {"source", host.path()}, {"options", {"bind", "rw"}}});
    RunResult r = b.run({"--write", "/host/new", "--write", "/data/inner/made", "--read", "/host/file"});
    ASSERT_EQ(r.status, 0) << r.err;
    json data = mount_at(r.probe, "/data"), hostm = mount_at(r.probe, "/host");
    ASSERT_FALSE(data.is_null());
    EXPECT_EQ(data["fstype"], "tmpfs");
    // The config's source is what mountinfo shows, as with runc and crun.
    EXPECT_EQ(data["source"], "tmpfs");
    EXPECT_EQ(mount_at(r.probe, "/proc")["source"], "proc");
    EXPECT_EQ(mount_at(r.probe, "/dev/pts")["source"], "devpts");
    EXPECT_NE(data["options"].get<std::string>().find("noexec"), std::string::npos);
    EXPECT_NE(data["super"].get<std::string>().find("mode=700"), std::string::npos) << data;
    EXPECT_NE(hostm["options"].get<std::string>().find("ro"), std::string::npos);
    EXPECT_EQ(r.probe["writes"]["/host/new"], "EROFS");
    EXPECT_EQ(r.probe["reads"]["/host/file"], "data");
    EXPECT_EQ(r.probe["writes"]["/data/inner/made"], "ok") << "a later mount lands inside an earlier one";
    EXPECT_TRUE(exists(host.path() + "/made"));
}

// runc's recursive attributes: "rro" makes a bind read-only with every mount below it; on a
// tmpfs it is an attribute, not a filesystem option. One a bind cannot take is refused.
TEST(OciRun, RecursiveMountAttributesReachEveryMountBelow) {
    Bundle b;
    TempDir host;
    std::filesystem::create_directories(host.path() + "/sub");
    ASSERT_EQ(::mount("tmpfs", (host.path() + "/sub").c_str(), "tmpfs", 0, "size=1m"), 0);
    struct Unmount {
        std::string p;
        ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
    } unmount{host.path() + "/sub"};
    auto& m = b.config["mounts"];
    m.push_back({{"destination", "/host"}, {"type", "bind"}, {"source", host.path()}, {"options", {"rbind", "rro", "rnosuid"}}});
    m.push_back({{"destination", "/scratch"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"rro", "size=1m"}}});
    m.push_back({{"destination", "/strict"}, {"type", "bind"}, {"source", host.path()}, {"options", {"bind", "strictatime"}}});
    m.push_back({{"destination", "/noatime"}, {"type", "bind"}, {"source", host.path()}, {"options", {"bind", "noatime"}}});
    RunResult r = b.run({"--write", "/host/new", "--write", "/host/sub/new", "--write", "/scratch/new"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["writes"]["/host/new"], "EROFS");
    EXPECT_EQ(r.probe["writes"]["/host/sub/new"], "EROFS") << "rro reaches the mount below";
    EXPECT_EQ(r.probe["writes"]["/scratch/new"], "EROFS");
    EXPECT_NE(mount_at(r.probe, "/host/sub")["options"].get<std::string>().find("nosuid"), std::string::npos);
    EXPECT_EQ(mount_at(r.probe, "/noatime")["options"].get<std::string>().find("noatime") != std::string::npos, true);

    Bundle bad;
    bad.config["mounts"].push_back({{"destination", "/host"}, {"type", "bind"}, {"source", host.path()}, {"options", {"rbind", "rbogus"}}});
    RunResult refused = bad.run({}, "bad");
    EXPECT_NE(refused.status, 0);
    EXPECT_NE(refused.err.find("rbogus"), std::string::npos) << refused.err;
}

TEST(OciRun, AMountTargetThatIsASymlinkOutOfTheRootStaysInside) {
    Bundle b;
    TempDir outside;
    // An image that points /evil at a host directory: the mount must land in the rootfs.
    std::filesystem::create_symlink("../../../../../../.." + outside.path(), b.rootfs() + "/evil");
    b.config["root"]["readonly"] = false;
    b.config["mounts"].push_back({{"destination", "/evil"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
    RunResult r = b.run({"--write", "/evil/x"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["writes"]["/evil/x"], "ok");
    EXPECT_FALSE(exists(outside.path() + "/x"));
    EXPECT_TRUE(std::filesystem::is_empty(outside.path()));
}

TEST(OciRun, AHostileImageCannotReachTheHostThroughProcOrMasks) {
    Bundle b;
    TempDir outside;
    std::ofstream(outside.path() + "/secret") << "host secret\n";
    // Mount targets through /proc/self/root (the init's root is still the host's while the
    // mounts are made), a masked path and a read-only path that point at host files.
    std::filesystem::create_symlink("/proc/self/root" + outside.path(), b.rootfs() + "/evil");
    std::filesystem::create_symlink("/proc/1/root" + outside.path() + "/secret", b.rootfs() + "/etc/masked");
    std::filesystem::create_symlink("../../.." + outside.path(), b.rootfs() + "/etc/ro");
    b.config["root"]["readonly"] = false;
    b.config["mounts"].push_back({{"destination", "/evil"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
    RunResult r = b.run({"--write", "/etc/ro/x"});
    EXPECT_NE(r.status, 0) << "a mount target through a magic link is refused: " << r.out;
    EXPECT_NE(r.err.find("/evil"), std::string::npos) << r.err;
    b.config["mounts"].erase(b.config["mounts"].size() - 1);
    b.config["linux"]["maskedPaths"] = {"/etc/masked"};
    r = b.run();
    EXPECT_NE(r.status, 0) << "a masked path through a magic link is refused";
    EXPECT_NE(r.err.find("/etc/masked"), std::string::npos) << r.err;
    b.config["linux"]["maskedPaths"] = nlohmann::json::array();
    b.config["linux"]["readonlyPaths"] = {"/etc/ro"};
    r = b.run({"--write", "/etc/ro/x"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["writes"]["/etc/ro/x"], "ENOENT") << "the link leads nowhere inside the container";
    // The host is unchanged: its files, and no mount landed on them.
    EXPECT_EQ(read_file(outside.path() + "/secret"), "host secret\n");
    EXPECT_FALSE(exists(outside.path() + "/x"));
    EXPECT_EQ(read_file("/proc/self/mountinfo").find(outside.path()), std::string::npos);
}

// Nothing is mounted inside the container's procfs but the files lxcfs stands in for: a
// bind over /proc/sys/kernel/core_pattern, or over /proc/self/attr through an image's link,
// would hide what the kernel or the runtime reaches there.
TEST(OciRun, MountsInsideProcAreRefusedButLxcfsFiles) {
    TempDir data;
    std::ofstream(data.path() + "/cpuinfo") << "processor : 0\n";
    Bundle b;
    auto bind = [&](const std::string& dest) {
        return nlohmann::json{{"destination", dest}, {"type", "bind"}, {"source", data.path() + "/cpuinfo"}, {"options", {"bind", "ro"}}};
    };
    b.config["mounts"].push_back(bind("/proc/cpuinfo"));
    RunResult ok = b.run({"--read", "/proc/cpuinfo"});
    ASSERT_EQ(ok.status, 0) << ok.err;
    b.config["mounts"].erase(b.config["mounts"].size() - 1);
    b.config["mounts"].push_back(bind("/proc/sys/kernel/core_pattern"));
    RunResult r = b.run();
    EXPECT_NE(r.status, 0) << "a bind over core_pattern was made";
    EXPECT_NE(r.err.find("mount inside /proc"), std::string::npos) << r.err;
    b.config["mounts"].erase(b.config["mounts"].size() - 1);
    std::filesystem::create_symlink("/proc/sys/kernel", b.rootfs() + "/kern");
    b.config["mounts"].push_back(bind("/kern/core_pattern"));
    r = b.run();
    EXPECT_NE(r.status, 0) << "a bind into /proc through the image's link was made";
    EXPECT_NE(r.err.find("mount inside /proc"), std::string::npos) << r.err;
}

TEST(OciRun, MaskedAndReadonlyPaths) {
    Bundle b;
    b.config["linux"]["maskedPaths"] = {"/proc/kallsyms", "/proc/kcore", "/sys/firmware", "/etc/secret"};
    b.config["linux"]["readonlyPaths"] = {"/proc/sys"};
    std::ofstream(b.rootfs() + "/etc/secret") << "secret\n";
    // /proc/kcore is absent from this kernel: a masked path that is missing is skipped.
    RunResult r = b.run({"--read", "/etc/secret", "--read", "/proc/kallsyms", "--write", "/proc/sys/kernel/hostname"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"]["/etc/secret"], "empty");
    EXPECT_EQ(r.probe["reads"]["/proc/kallsyms"], "empty");
    EXPECT_EQ(r.probe["writes"]["/proc/sys/kernel/hostname"], "EROFS");
    EXPECT_EQ(mount_at(r.probe, "/sys/firmware")["fstype"], "tmpfs");
}

TEST(OciRun, HostnameDomainnameAndSysctl) {
    Bundle b;
    b.config["hostname"] = "box";
    b.config["domainname"] = "example.org";
    b.config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}, {"kernel.shmmni", "1234"}};
    std::string out = sh(b, "hostname; cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni");
    EXPECT_EQ(out, "box\nexample.org\n1\n1234\n");
    EXPECT_EQ(read_file("/proc/sys/kernel/shmmni").find("1234"), std::string::npos) << "the host's value is untouched";
}

// What runc and crun do and the runtime-spec leaves to the runtime: loopback up in a new
// network namespace, a missing cwd made, HOME from the image's /etc/passwd, a tmpfs with
// its mountpoint's mode, and kernel.hostname refused as a sysctl (the hostname field says it).
TEST(OciRun, WhatRuncAndCrunDoBeyondTheSpec) {
    Bundle b;
    std::filesystem::create_directories(b.rootfs() + "/home/user");
    std::ofstream(b.rootfs() + "/etc/passwd") << "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n";
    std::filesystem::create_directories(b.rootfs() + "/closed");
    ::chmod((b.rootfs() + "/closed").c_str(), 0750);
    b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
    b.config["process"]["env"] = {"PATH=/bin"};
    b.config["process"]["cwd"] = "/made/for/you";
    b.config["root"]["readonly"] = false;
    b.config["mounts"].push_back({{"destination", "/closed"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid"}}});
    RunResult r = b.run({"--write", "/closed/x"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["interfaces"]["lo"]["up"], true);
    EXPECT_EQ(r.probe["cwd"], "/made/for/you");
    EXPECT_EQ(r.probe["env"]["HOME"], "/home/user");
    EXPECT_NE(mount_at(r.probe, "/closed")["super"].get<std::string>().find("mode=750"), std::string::npos)
        << mount_at(r.probe, "/closed");
    Bundle h;
    h.config["linux"]["sysctl"] = {{"kernel.hostname", "x"}};
    RunResult refused = h.run({}, "h");
    EXPECT_NE(refused.status, 0);
    EXPECT_NE(refused.err.find("use the hostname field"), std::string::npos) << refused.err;
}

// More of runc's and crun's behaviour: the scheduler's deadline class and flags, a device
// path with a trailing slash, stdio a process that is not root can reopen, socket
// activation's descriptors, run --keep, update --cpu-share, and exec --cgroup refused.
TEST(OciRun, SchedulerDevicesStdioAndSocketActivation) {
    Bundle b;
    b.config["process"]["scheduler"] = {{"policy", "SCHED_DEADLINE"}, {"runtime", 1000000}, {"deadline", 10000000},
                                        {"period", 10000000}, {"flags", {"SCHED_FLAG_RESET_ON_FORK"}}};
    b.config["linux"]["devices"] = {{{"type", "c"}, {"path", "/dev/slashed/"}, {"major", 1}, {"minor", 3}, {"fileMode", 0666}}};
    std::string out = sh(b, "while read l; do case $l in policy*) echo $l;; esac; done < /proc/self/sched; ls /dev/slashed");
    EXPECT_NE(out.find("policy"), std::string::npos) << out;
    EXPECT_NE(out.find(": 6"), std::string::npos) << "SCHED_DEADLINE is policy 6: " << out;
    EXPECT_NE(out.find("/dev/slashed"), std::string::npos) << out;
    // And an exec'd process, which a SCHED_DEADLINE helper could not clone: the runtime sets
    // the scheduler on it by its pid before it execs.
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "sched").status, 0);
    RunResult ex = b.oci("exec", {"sched", "/bin/sh", "-c", "while read l; do case $l in policy*) echo $l;; esac; done < /proc/self/sched"}, "");
    EXPECT_EQ(ex.status, 0) << ex.err;
    EXPECT_NE(ex.out.find(": 6"), std::string::npos) << "SCHED_DEADLINE in the exec'd process: " << ex.out;
    EXPECT_EQ(b.oci("delete", {"--force"}, "sched").status, 0);

    Bundle u;
    u.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
    RunResult reopen = u.run({"--write", "/proc/self/fd/1"}, "u");
    ASSERT_EQ(reopen.status, 0) << reopen.err;
    EXPECT_EQ(reopen.probe["writes"]["/proc/self/fd/1"], "ok") << "the stdout pipe is the process's own";

    Bundle a;
    a.config["process"]["args"] = {"/probe"};
    a.save();
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    RunOptions o;
    o.extra_fds = {{3, p[1]}};
    o.program = "/bin/sh";
    RunResult act = run_caisson({"-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"", oci_path(), "--root", a.root(), "run",
                                 "--bundle", a.path(), "activated"},
                                o);
    ::close(p[0]);
    ::close(p[1]);
    ASSERT_EQ(act.status, 0) << act.err;
    EXPECT_EQ(act.probe["env"]["LISTEN_FDS"], "1");
    EXPECT_EQ(act.probe["env"]["LISTEN_PID"], "1");
    EXPECT_NE(act.probe["fds"].dump().find("\"fd\":3"), std::string::npos) << act.probe["fds"];

    Bundle k;
    k.config["process"]["args"] = {"/bin/true"};
    ASSERT_EQ(k.oci("run", {"--bundle", k.path(), "--keep"}, "kept").status, 0);
    EXPECT_EQ(json::parse(k.oci("state", {}, "kept").out)["status"], "stopped");
    EXPECT_EQ(k.oci("delete", {}, "kept").status, 0);
    k.config["process"]["args"] = {"/bin/sleep", "60"};
    k.config["linux"]["resources"] = {{"cpu", {{"shares", 512}}}};
    ASSERT_EQ(k.oci("run", {"--bundle", k.path(), "--detach"}, "upd").status, 0);
    RunResult upd = k.oci("update", {"--cpu-share", "256"}, "upd");
    EXPECT_EQ(upd.status, 0) << upd.err;
    EXPECT_EQ(read_file("/sys/fs/cgroup/cpu/caisson/upd/cpu.shares"), "256\n");
    RunResult sub = k.oci("exec", {"--cgroup", "sub", "upd", "/bin/true"}, "");
    EXPECT_NE(sub.status, 0);
    EXPECT_NE(sub.err.find("exec --cgroup"), std::string::npos) << sub.err;
    k.oci("delete", {"--force"}, "upd");
}

// The rootfs and its mount points owned by host uid and gid 100000, as an image unpacked for
// a user namespace whose root that is.
void give_rootfs_to_100000(Bundle& b) {
    for (auto& e : std::filesystem::recursive_directory_iterator(b.rootfs())) ASSERT_EQ(::lchown(e.path().c_str(), 100000, 100000), 0);
    ASSERT_EQ(::chown(b.rootfs().c_str(), 100000, 100000), 0);
}

// A user namespace of the container's own, its root at host uid and gid 100000 (65536 ids).
void in_a_user_namespace(Bundle& b) {
    b.config["linux"]["namespaces"].push_back({{"type", "user"}});
    b.config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    b.config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    give_rootfs_to_100000(b);
}

TEST(OciRun, AUserNamespaceWithItsMappings) {
    Bundle b;
    in_a_user_namespace(b);
    if (HasFatalFailure()) return;
    RunResult r = b.run();
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.probe["ns"]["user"], host_ns("user"));
    EXPECT_NE(r.probe["uid_map"].get<std::string>().find("100000"), std::string::npos);
    EXPECT_EQ(r.probe["uid"], 0);
}

// A masked path below a directory the container's root cannot search (its owner is mapped,
// its group is not, so CAP_DAC_READ_SEARCH does not apply) but the process's user owns: the
// process could reach what the runtime could not mask. That is an error, as in runc, never a
// mask silently skipped.
TEST(OciRun, AMaskedPathRootCannotReachButTheUserCanIsAnError) {
    Bundle b;
    in_a_user_namespace(b);
    if (HasFatalFailure()) return;
    const std::string dir = b.rootfs() + "/etc/private";
    std::filesystem::create_directory(dir);
    std::ofstream(dir + "/secret") << "secret\n";
    ASSERT_EQ(::chown((dir + "/secret").c_str(), 100005, 100005), 0);
    ASSERT_EQ(::chown(dir.c_str(), 100005, 1234), 0);  // group 1234: not in the mapping
    ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);
    b.config["process"]["user"] = {{"uid", 5}, {"gid", 5}};
    b.config["linux"]["maskedPaths"] = {"/etc/private/secret"};
    RunResult r = b.run({"--read", "/etc/private/secret"});
    EXPECT_NE(r.status, 0) << "the process read " << r.probe["reads"]["/etc/private/secret"];
    EXPECT_NE(r.err.find("open masked path"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("/etc/private/secret"), std::string::npos) << r.err;
    EXPECT_TRUE(r.probe.is_null()) << "the process ran: " << r.probe;
}

// The owner of a host path, "uid gid".
std::string owner(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) < 0) return "missing";
    return std::to_string(st.st_uid) + " " + std::to_string(st.st_gid);
}

TEST(OciRun, AnIdmappedBindMountShowsTheMappedOwners) {
    Bundle b;
    TempDir data;
    std::ofstream(data.path() + "/f") << "x";
    ASSERT_EQ(::chown((data.path() + "/f").c_str(), 1000, 1000), 0);
    ASSERT_EQ(::chown(data.path().c_str(), 1000, 1000), 0);
    b.config["root"]["readonly"] = false;
    // On disk 1000 is root on this mount, and root's writes land as 1000.
    b.config["mounts"].push_back({{"destination", "/data"}, {"type", "bind"}, {"source", data.path()},
                                  {"options", {"bind", "idmap"}},
                                  {"uidMappings", {{{"containerID", 1000}, {"hostID", 0}, {"size", 1}}}},
                                  {"gidMappings", {{{"containerID", 1000}, {"hostID", 0}, {"size", 1}}}}});
    EXPECT_EQ(sh(b, "stat -c '%u %g' /data/f; touch /data/new"), "0 0\n");
    EXPECT_EQ(owner(data.path() + "/new"), "1000 1000");
    EXPECT_EQ(owner(data.path() + "/f"), "1000 1000") << "the files themselves are unchanged";
}

TEST(OciRun, IdmapWithoutItsOwnMappingTakesTheContainers) {
    Bundle b;
    TempDir data;
    std::ofstream(data.path() + "/f") << "x";
    in_a_user_namespace(b);
    if (HasFatalFailure()) return;
    b.config["mounts"].push_back({{"destination", "/data"}, {"type", "bind"}, {"source", data.path()},
                                  {"options", {"rbind", "ridmap"}}});
    // Host root's files are the container root's, and its writes are host root's.
    EXPECT_EQ(sh(b, "stat -c '%u %g' /data/f; touch /data/new"), "0 0\n");
    EXPECT_EQ(owner(data.path() + "/new"), "0 0");
}

// A process of this test in namespaces of its own (unshare), kept alive until destroyed: its
// /proc/PID/ns/* are the paths a config joins. Ready once unshared (a pipe, never a sleep);
// a new user namespace gets 0 -> 100000 (65536 ids).
// The config's namespace of this type is joined at `path` instead of made.
void join_by_path(Bundle& b, const char* type, const std::string& path) {
    for (auto& ns : b.config["linux"]["namespaces"])
        if (ns["type"] == type) ns["path"] = path;
}

struct NamespaceHolder {
    pid_t pid = -1;
    explicit NamespaceHolder(int flags, const char* ids = "0 100000 65536\n") {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0) return;
        pid = ::fork();
        if (pid == 0) {
            char ok = ::unshare(flags) == 0 ? 1 : 0;
            (void)!::write(p[1], &ok, 1);
            ::pause();
            ::_exit(0);
        }
        ::close(p[1]);
        char ok = 0;
        if (::read(p[0], &ok, 1) != 1 || !ok) ADD_FAILURE() << "unshare in the holder failed";
        ::close(p[0]);
        if (flags & CLONE_NEWUSER)
            for (const char* map : {"uid_map", "gid_map"}) {
                std::ofstream out("/proc/" + std::to_string(pid) + "/" + map);
                out << ids;
                out.flush();
                if (!out) ADD_FAILURE() << "writing the holder's " << map;
            }
    }
    ~NamespaceHolder() {
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    std::string path(const char* ns) const { return "/proc/" + std::to_string(pid) + "/ns/" + ns; }
    std::string id(const char* ns) const { return std::filesystem::read_symlink(path(ns)).string(); }
};

TEST(OciRun, JoinsANetworkNamespaceByPath) {
    Bundle b;
    NamespaceHolder holder(CLONE_NEWNET);
    ASSERT_GT(holder.pid, 0);
    join_by_path(b, "network", holder.path("net"));
    RunResult r = b.run();
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["ns"]["net"], holder.id("net"));
}

// As a pod's containers join the pod's user namespace (Kubernetes' user namespaces): the
// user and mount namespaces by path, the others new, owned by the joined user namespace. The
// init builds the root in the joined mount namespace, as runc does.
TEST(OciRun, JoinsAUserAndAMountNamespaceByPath) {
    Bundle b;
    NamespaceHolder holder(CLONE_NEWUSER | CLONE_NEWNS);
    ASSERT_GT(holder.pid, 0);
    join_by_path(b, "mount", holder.path("mnt"));
    b.config["linux"]["namespaces"].push_back({{"type", "user"}, {"path", holder.path("user")}});
    give_rootfs_to_100000(b);
    if (HasFatalFailure()) return;
    RunResult r = b.run();
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["ns"]["user"], holder.id("user"));
    EXPECT_EQ(r.probe["ns"]["mnt"], holder.id("mnt"));
    EXPECT_NE(r.probe["ns"]["pid"], host_ns("pid"));
    EXPECT_NE(r.probe["uid_map"].get<std::string>().find("100000"), std::string::npos);
    EXPECT_EQ(r.probe["uid"], 0);
    // The runtime itself stayed where it was: a second container sees the host's user namespace.
    Bundle plain;
    RunResult again = plain.run();
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(again.probe["ns"]["user"], host_ns("user"));
}

// runtime-spec: a path that is not a namespace of the type it is given as is an error.
TEST(OciBadInput, ANamespacePathOfAnotherTypeIsAnError) {
    Bundle b;
    NamespaceHolder holder(CLONE_NEWIPC);
    ASSERT_GT(holder.pid, 0);
    join_by_path(b, "network", holder.path("ipc"));
    RunResult r = b.run();
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("setns"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(holder.path("ipc")), std::string::npos) << r.err;
}

// A namespace path that is the runtime's own is sharing it: the host name and sysctls, which
// need a namespace of the container's, are refused rather than written into the host's.
TEST(OciBadInput, JoiningTheRuntimesOwnNamespacesIsSharingThem) {
    Bundle b;
    for (auto& ns : b.config["linux"]["namespaces"]) {
        if (ns["type"] == "uts") ns["path"] = "/proc/self/ns/uts";
        if (ns["type"] == "network") ns["path"] = "/proc/self/ns/net";
    }
    b.config["hostname"] = "not-the-hosts";
    RunResult r = b.run();
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("hostname"), std::string::npos) << r.err;
    Bundle n;
    for (auto& ns : n.config["linux"]["namespaces"])
        if (ns["type"] == "network") ns["path"] = "/proc/self/ns/net";
    n.config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    RunResult s = n.run();
    EXPECT_NE(s.status, 0);
    EXPECT_NE(s.err.find("net.ipv4.ip_forward"), std::string::npos) << s.err;
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    EXPECT_NE(std::string(host), "not-the-hosts");
}

// The runtime's own mount namespace is never where a container's root is built: pivot_root
// there would move the host's processes into the container's root.
TEST(OciBadInput, TheRuntimesOwnMountNamespaceIsRefused) {
    Bundle b;
    join_by_path(b, "mount", "/proc/self/ns/mnt");
    RunResult r = b.run();
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("caisson-oci's own"), std::string::npos) << r.err;
}

TEST(OciRun, TimeNamespaceOffsets) {
    Bundle b;
    b.config["linux"]["namespaces"].push_back({{"type", "time"}});
    b.config["linux"]["timeOffsets"] = {{"monotonic", {{"secs", 86400}, {"nanosecs", 0}}}, {"boottime", {{"secs", 3600}, {"nanosecs", 0}}}};
    RunResult r = b.run();
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.probe["ns"]["time"], host_ns("time"));
    EXPECT_NE(r.probe["timens_offsets"].get<std::string>().find("86400"), std::string::npos);
}

TEST(OciRun, SeccompFromOciJsonDecidesByArgumentAndByName) {
    Bundle b;
    b.config["linux"]["seccomp"] = {
        {"defaultAction", "SCMP_ACT_ALLOW"},
        {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
        {"syscalls",
         {{{"names", {"getppid"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 38}},
          {{"names", {"mount"}}, {"action", "SCMP_ACT_ERRNO"}},
          {{"names", {"no_such_syscall_xyz"}}, {"action", "SCMP_ACT_ERRNO"}},
          // socket(AF_PACKET=17, ...) refused with EAFNOSUPPORT, other families allowed.
          {{"names", {"socket"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 97}, {"args", {{{"index", 0}, {"value", 17}, {"op", "SCMP_CMP_EQ"}}}}}}}};
    b.config["process"]["capabilities"]["bounding"].push_back("CAP_SYS_ADMIN");
    b.config["process"]["capabilities"]["effective"].push_back("CAP_SYS_ADMIN");
    b.config["process"]["capabilities"]["permitted"].push_back("CAP_SYS_ADMIN");
    RunResult r = b.run({"--try", "getppid", "--try", "mount", "--call", "41,17,3,0", "--call", "41,1,1,0"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["tries"]["getppid"], "ENOSYS");
    EXPECT_EQ(r.probe["tries"]["mount"], "EPERM");
    EXPECT_EQ(r.probe["calls"]["41,17,3,0"], "EAFNOSUPPORT");
    EXPECT_NE(r.probe["calls"]["41,1,1,0"], "EAFNOSUPPORT");
    EXPECT_EQ(r.probe["status"]["Seccomp"], "2");
}

TEST(OciRun, DevicesAreCreatedAndTheDeviceCgroupEnforces) {
    Bundle b;
    b.config["linux"]["devices"] = {{{"type", "c"}, {"path", "/dev/mynull"}, {"major", 1}, {"minor", 3}, {"fileMode", 0666}}};
    b.config["linux"]["resources"]["devices"] = {{{"allow", false}, {"access", "rwm"}},
                                                 {{"allow", true}, {"type", "c"}, {"major", 1}, {"minor", 3}, {"access", "rw"}}};
    b.config["process"]["capabilities"]["bounding"].push_back("CAP_MKNOD");
    b.config["process"]["capabilities"]["effective"].push_back("CAP_MKNOD");
    b.config["process"]["capabilities"]["permitted"].push_back("CAP_MKNOD");
    b.config["root"]["readonly"] = false;
    int status = 0;
    std::string out = sh(b, "ls -l /dev/mynull /dev/null /dev/zero /dev/ptmx; echo x > /dev/mynull && echo wrote; "
                            "busybox mknod /tmp/sda b 8 0 2>&1 || echo refused",
                         &status);
    EXPECT_NE(out.find("/dev/mynull"), std::string::npos) << out;
    EXPECT_NE(out.find("wrote"), std::string::npos) << out;
    EXPECT_NE(out.find("refused"), std::string::npos) << "mknod of a device the cgroup denies: " << out;
}

// A node linux.devices lists is made even when the device rules deny it (they apply once the
// init has made the nodes, as crun does): it is there, and it cannot be opened.
TEST(OciRun, ADeviceTheRulesDenyIsStillCreated) {
    Bundle b;
    b.config["linux"]["devices"] = {{{"type", "c"}, {"path", "/dev/myfuse"}, {"major", 10}, {"minor", 229}, {"fileMode", 0666}}};
    b.config["linux"]["resources"]["devices"] = {{{"allow", false}, {"access", "rwm"}}};
    int status = 0;
    std::string out = sh(b, "ls -l /dev/myfuse && (cat /dev/myfuse 2>&1 || echo denied)", &status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("10,") , std::string::npos) << out;
    EXPECT_NE(out.find("denied"), std::string::npos) << out;
}

TEST(OciRun, ResourcesLandInTheContainersCgroup) {
    Bundle b;
    b.config["linux"]["cgroupsPath"] = "/caisson-oci-test/limits";
    b.config["linux"]["resources"]["memory"] = {{"limit", 64 << 20}};
    b.config["linux"]["resources"]["pids"] = {{"limit", 32}};
    b.config["linux"]["resources"]["cpu"] = {{"shares", 512}, {"quota", 50000}, {"period", 100000}};
    std::string out = sh(b, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
                            "/sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us; cat /proc/self/cgroup | grep memory");
    EXPECT_EQ(out.substr(0, out.rfind("\n", out.size() - 2) + 1), "67108864\n32\n512\n50000\n");
    EXPECT_NE(out.find("memory:/\n"), std::string::npos) << "the cgroup namespace is rooted at the container: " << out;
    EXPECT_FALSE(exists("/sys/fs/cgroup/memory/caisson-oci-test/limits")) << "delete removes the cgroup";
    ::rmdir("/sys/fs/cgroup/memory/caisson-oci-test");
    for (const char* c : {"pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer", "unified"})
        ::rmdir((std::string("/sys/fs/cgroup/") + c + "/caisson-oci-test").c_str());
}

// A container's cgroup is its own: a cgroupsPath that already holds another container's
// processes, or is frozen, is refused before anything of the new container is in it, and the
// first container runs on untouched (sharing, its delete would have killed them). And delete
// says when the cgroup stays, keeping the state for a second try.
TEST(OciRun, AContainersCgroupIsItsOwnAndDeleteSaysWhenItStays) {
    std::string v2;
    for (const char* at : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        struct statfs fs{};
        if (::statfs(at, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) v2 = at;
    }
    struct Cleanup {
        ~Cleanup() {
            for (const char* c : {"unified", "pids", "memory", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer", ""}) {
                const std::string base = std::string("/sys/fs/cgroup/") + c + (c[0] ? "/" : "") + "caisson-oci-test";
                for (const char* leaf : {"/frozen", "/held", "/shared", ""}) ::rmdir((base + leaf).c_str());
            }
        }
    } cleanup;
    Bundle b;
    b.config["linux"]["cgroupsPath"] = "/caisson-oci-test/shared";
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "first").status, 0);
    RunResult second = b.oci("run", {"--bundle", b.path()}, "second");
    EXPECT_NE(second.status, 0);
    EXPECT_NE(second.err.find("already holds processes"), std::string::npos) << second.err;
    EXPECT_NE(second.err.find("/caisson-oci-test/shared"), std::string::npos) << second.err;
    RunResult state = b.oci("state", {}, "first");
    EXPECT_NE(state.out.find("\"running\""), std::string::npos) << "the first container runs on: " << state.out << state.err;
    ASSERT_EQ(b.oci("delete", {"--force"}, "first").status, 0);

    if (!v2.empty()) {
        const std::string frozen = v2 + "/caisson-oci-test/frozen";
        ::mkdir((v2 + "/caisson-oci-test").c_str(), 0755);
        ASSERT_EQ(::mkdir(frozen.c_str(), 0755), 0) << frozen;
        std::ofstream(frozen + "/cgroup.freeze") << "1";
        b.config["linux"]["cgroupsPath"] = "/caisson-oci-test/frozen";
        RunResult stuck = b.oci("run", {"--bundle", b.path()}, "frozen");
        EXPECT_NE(stuck.status, 0);
        EXPECT_NE(stuck.err.find("is frozen"), std::string::npos) << stuck.err;
        EXPECT_TRUE(exists(frozen)) << "a cgroup that was there before is left";
    }

    // A mount on the container's cgroup directory keeps rmdir from removing it (EBUSY).
    b.config["linux"]["cgroupsPath"] = "/caisson-oci-test/held";
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "held").status, 0);
    std::string dir;
    for (const char* c : {"/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", v2.c_str()})
        if (dir.empty() && c[0] && exists(std::string(c) + "/caisson-oci-test/held")) dir = std::string(c) + "/caisson-oci-test/held";
    ASSERT_FALSE(dir.empty());
    ASSERT_EQ(::mount("none", dir.c_str(), "tmpfs", 0, "size=4k"), 0) << dir;
    struct Unmount {
        std::string at;
        ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
    } unmount{dir};
    RunResult stays = b.oci("delete", {"--force"}, "held");
    EXPECT_NE(stays.status, 0);
    EXPECT_NE(stays.err.find("remove cgroup"), std::string::npos) << stays.err;
    EXPECT_NE(stays.err.find(dir), std::string::npos) << stays.err;
    ASSERT_EQ(::umount2(dir.c_str(), 0), 0);
    RunResult again = b.oci("delete", {}, "held");
    EXPECT_EQ(again.status, 0) << again.err;
    EXPECT_FALSE(exists(dir)) << "the second delete removed it";
}

// process.execCPUAffinity: the process runs on `final`'s CPUs once in its cgroup.
TEST(OciRun, ExecCpuAffinityFinalIsTheProcesssCpus) {
    cpu_set_t mine;
    ASSERT_EQ(::sched_getaffinity(0, sizeof(mine), &mine), 0);
    if (!CPU_ISSET(0, &mine) || !CPU_ISSET(1, &mine)) GTEST_SKIP() << "needs CPUs 0 and 1";
    Bundle b;
    b.config["process"]["execCPUAffinity"] = {{"initial", "0"}, {"final", "1"}};
    RunResult r = b.run();
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["cpus_allowed"], json::array({1}));
    b.config["process"]["execCPUAffinity"] = {{"final", "0-"}};
    RunResult bad = b.run({}, "bad-affinity");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.err.find("process.execCPUAffinity.final"), std::string::npos) << bad.err;
}

// The atime options of mount(8) that name no mode (atime, norelatime, nostrictatime) leave
// the default, relatime; each is accepted, as runc accepts them.
TEST(OciRun, AtimeOptionsWithoutAModeLeaveRelatime) {
    Bundle b;
    std::filesystem::create_directories(b.rootfs() + "/mnt");
    for (const char* opt : {"nostrictatime", "norelatime", "atime"}) {
        b.config["mounts"].push_back({{"destination", std::string("/mnt/") + opt}, {"type", "tmpfs"}, {"source", "tmpfs"},
                                      {"options", {"strictatime", opt}}});
        std::filesystem::create_directories(b.rootfs() + "/mnt/" + opt);
    }
    int status = 0;
    std::string out = sh(b, "grep /mnt/ /proc/self/mountinfo", &status);
    EXPECT_EQ(status, 0) << out;
    std::istringstream lines(out);
    int seen = 0;
    for (std::string line; std::getline(lines, line); ++seen) {
        std::istringstream fields(line);
        std::string field, options;
        for (int i = 0; i < 6 && fields >> field; ++i) options = field;  // the mount's own options
        EXPECT_NE(options.find("relatime"), std::string::npos) << line;
        EXPECT_EQ(options.find("strictatime"), std::string::npos) << line;
    }
    EXPECT_EQ(seen, 3) << out;
}

// v1's real-time budget: caisson's own parent group starts with none, and a group may not
// have more than its parent; the budget is handed down to the container's group.
TEST(OciRun, RealtimeRuntimeGetsItsBudgetThroughTheParents) {
    if (!exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"))
        GTEST_SKIP() << "needs cgroup v1's cpu controller with real-time group scheduling at /sys/fs/cgroup/cpu";
    Bundle b;
    b.config["linux"]["resources"]["cpu"] = {{"realtimeRuntime", 10000}, {"realtimePeriod", 1000000}};
    int status = 0;
    std::string out = sh(b, "cat /sys/fs/cgroup/cpu/cpu.rt_runtime_us /sys/fs/cgroup/cpu/cpu.rt_period_us", &status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out, "10000\n1000000\n");
}

// One planner serves both faces: a memory limit without a swap limit means no swap (memsw =
// memory on v1), and update may raise or lower it (v1 keeps memsw >= memory at every moment,
// so the order of the two writes depends on the direction).
TEST(OciRun, UpdateRaisesAndLowersMemoryWithItsSwapLimit) {
    const std::string dir = "/sys/fs/cgroup/memory/caisson/mem-update";
    if (!exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"))
        GTEST_SKIP() << "needs cgroup v1's memory controller with swap accounting at /sys/fs/cgroup/memory";
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    b.config["linux"]["resources"]["memory"] = {{"limit", 64 << 20}};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "mem-update").status, 0);
    EXPECT_EQ(read_file(dir + "/memory.limit_in_bytes"), "67108864\n");
    EXPECT_EQ(read_file(dir + "/memory.memsw.limit_in_bytes"), "67108864\n") << "no swap unless asked";
    for (long long mib : {256, 32}) {
        std::ofstream(b.path() + "/res.json") << "{\"memory\": {\"limit\": " << (mib << 20) << "}}";
        RunResult u = b.oci("update", {"--resources", b.path() + "/res.json"}, "mem-update");
        ASSERT_EQ(u.status, 0) << mib << " MiB: " << u.err;
        EXPECT_EQ(read_file(dir + "/memory.limit_in_bytes"), std::to_string(mib << 20) + "\n");
        EXPECT_EQ(read_file(dir + "/memory.memsw.limit_in_bytes"), std::to_string(mib << 20) + "\n");
    }
    std::ofstream(b.path() + "/res.json") << R"({"memory": {"limit": 33554432, "swap": -1}})";
    RunResult lifted = b.oci("update", {"--resources", b.path() + "/res.json"}, "mem-update");
    ASSERT_EQ(lifted.status, 0) << lifted.err;
    EXPECT_NE(read_file(dir + "/memory.memsw.limit_in_bytes"), "33554432\n") << "swap -1 lifts the swap limit";
    EXPECT_EQ(b.oci("delete", {"--force"}, "mem-update").status, 0);
}

// The lifecycle by hand: create (pid file, init waiting), start, state, kill, delete.
struct kernel_fd {
    int fd;
    explicit kernel_fd(int f) : fd(f) {}
    ~kernel_fd() {
        if (fd >= 0) ::close(fd);
    }
};

// CVE-2019-5736: a process exec'd into a created container holds /proc/1/exe (the waiting
// init, a copy of the runtime) and writes through it once the init has exec'd the program.
// The runtime runs from a read-only bind of itself, so the write fails and the binary is
// unchanged. A copy of caisson-oci is the target, so that a failure harms no other test.
TEST(OciLifecycle, TheRuntimeBinaryCannotBeRewrittenFromInside) {
    Bundle b;
    TempDir out, bin;
    std::string runtime = bin.path() + "/caisson-oci";
    std::filesystem::copy_file(oci_path(), runtime);
    std::string before = read_file(runtime);
    ASSERT_EQ(::mkfifo((out.path() + "/holding").c_str(), 0600), 0);
    ASSERT_EQ(::mkfifo((out.path() + "/done").c_str(), 0600), 0);
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    b.config["process"]["capabilities"]["bounding"].push_back("CAP_SYS_PTRACE");
    b.config["process"]["capabilities"]["effective"].push_back("CAP_SYS_PTRACE");
    b.config["process"]["capabilities"]["permitted"].push_back("CAP_SYS_PTRACE");
    b.config["mounts"].push_back({{"destination", "/out"}, {"type", "bind"}, {"source", out.path()}, {"options", {"bind"}}});
    RunOptions o;
    o.program = runtime.c_str();
    o.until_exit = true;
    b.save();
    auto oci = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"--root", b.root()});
        return run_caisson(args, o);
    };
    ASSERT_EQ(oci({"create", "--bundle", b.path(), "cve"}).status, 0);
    std::string attack =
        "exec 3< /proc/1/exe; echo > /out/holding; "
        "while [ \"$(readlink /proc/1/exe)\" != /bin/busybox ]; do :; done; "
        "exec > /out/result 2>&1; echo pwned >> /proc/self/fd/3; echo \"rc=$?\"; echo > /out/done";
    ASSERT_EQ(oci({"exec", "--detach", "cve", "/bin/sh", "-c", attack}).status, 0);
    // Bounded waits on the attacker's signals: a broken attack fails the test, never hangs it.
    auto signalled = [&](const char* fifo) {
        kernel_fd f(::open((out.path() + "/" + fifo).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
        pollfd p{f.fd, POLLIN, 0};
        return f.fd >= 0 && ::poll(&p, 1, 20000) == 1;
    };
    EXPECT_TRUE(signalled("holding")) << "the attacker holds /proc/1/exe";
    ASSERT_EQ(oci({"start", "cve"}).status, 0);
    EXPECT_TRUE(signalled("done"));
    std::string result = read_file(out.path() + "/result");
    // EROFS from the read-only bind; ETXTBSY while a runtime process still runs the binary.
    EXPECT_TRUE(result.find("Read-only file system") != std::string::npos ||
                result.find("Text file busy") != std::string::npos) << result;
    EXPECT_EQ(result.find("rc=0"), std::string::npos) << result;
    EXPECT_TRUE(read_file(runtime) == before) << "the runtime's binary was rewritten";
    // The container's processes are this test's children (its subreaper): reaped here, by
    // pid, as a shim would (other tests' orphans are its children too), so that the v1
    // cgroups can be removed.
    // The init (a pid namespace's first process) ends only once the attacker is reaped, so
    // any child is reaped until both of them are.
    std::set<pid_t> pending;
    for (const auto& pid : json::parse(oci({"ps", "--format", "json", "cve"}).out)) pending.insert(pid.get<pid_t>());
    oci({"kill", "--all", "cve", "KILL"});
    while (!pending.empty()) {
        pid_t reaped = ::waitpid(-1, nullptr, 0);
        if (reaped < 0) break;  // no child left: the rest were not ours to reap
        pending.erase(reaped);
    }
    EXPECT_EQ(oci({"delete", "cve"}).status, 0);
}

TEST(OciLifecycle, TheWaitingInitIsClosedToTheContainer) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("create", {"--bundle", b.path()}, "closed").status, 0);
    // The default capabilities: no CAP_SYS_PTRACE, so non-dumpable is enough.
    RunResult r = b.oci("exec", {"closed", "/bin/sh", "-c", "cat /proc/1/exe > /dev/null; readlink /proc/1/exe; echo done"}, "");
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "done\n") << "nothing of /proc/1/exe is readable, not even its path";
    b.oci("delete", {"--force"}, "closed");
}

TEST(OciLifecycle, CreateStartKillDelete) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    std::string pid_file = b.path() + "/pid";
    RunResult c = b.oci("create", {"--bundle", b.path(), "--pid-file", pid_file}, "life");
    ASSERT_EQ(c.status, 0) << c.err;
    int pid = std::stoi(read_file(pid_file));
    json st = json::parse(b.oci("state", {}, "life").out);
    EXPECT_EQ(st["status"], "created");
    EXPECT_EQ(st["pid"], pid);
    EXPECT_EQ(st["id"], "life");
    EXPECT_EQ(st["bundle"], b.path());
    EXPECT_EQ(st["ociVersion"], "1.2.0");
    EXPECT_TRUE(st.contains("created") && st.contains("owner") && st.contains("rootfs") && st.contains("annotations"));
    EXPECT_NE(read_file("/proc/" + std::to_string(pid) + "/cmdline").find("caisson-oci"), std::string::npos)
        << "before start, the pid is the runtime's init, waiting";
    // CVE-2019-5736 (a program "#!/proc/self/exe" runs the init's binary): whatever the
    // config, the runtime runs from a copy nothing can write.
    struct statvfs exe{};
    ASSERT_EQ(::statvfs(("/proc/" + std::to_string(pid) + "/exe").c_str(), &exe), 0);
    EXPECT_TRUE(exe.f_flag & ST_RDONLY) << "the waiting init runs from the runtime's own writable file";
    ASSERT_EQ(b.oci("start", {}, "life").status, 0);
    EXPECT_EQ(json::parse(b.oci("state", {}, "life").out)["status"], "running");
    EXPECT_EQ(read_file("/proc/" + std::to_string(pid) + "/cmdline").substr(0, 10), std::string("/bin/sleep"));
    RunResult again = b.oci("start", {}, "life");
    EXPECT_NE(again.status, 0);
    EXPECT_EQ(b.oci("delete", {}, "life").status, 1) << "a running container is not deleted without --force";
    ASSERT_EQ(b.oci("kill", {}, "life SIGKILL").status, 1) << "one argument per word";
    ASSERT_EQ(b.oci("kill", {"life", "KILL"}, "").status, 0);
    for (int i = 0; i < 2000 && json::parse(b.oci("state", {}, "life").out)["status"] != "stopped"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(json::parse(b.oci("state", {}, "life").out)["status"], "stopped");
    RunResult k = b.oci("kill", {"life", "9"}, "");
    EXPECT_NE(k.status, 0);
    EXPECT_NE(k.err.find("container not running"), std::string::npos) << k.err;
    ASSERT_EQ(b.oci("delete", {}, "life").status, 0);
    RunResult gone = b.oci("state", {}, "life");
    EXPECT_NE(gone.status, 0);
    EXPECT_NE(gone.err.find("does not exist"), std::string::npos) << gone.err;
}

TEST(OciLifecycle, DeletingACreatedContainerKillsItsInit) {
    Bundle b;
    std::string pid_file = b.path() + "/pid";
    ASSERT_EQ(b.oci("create", {"--bundle", b.path(), "--pid-file", pid_file}, "made").status, 0);
    int pid = std::stoi(read_file(pid_file));
    RunResult d = b.oci("delete", {}, "made");
    ASSERT_EQ(d.status, 0) << d.err;
    EXPECT_FALSE(exists("/proc/" + std::to_string(pid) + "/cmdline") &&
                 read_file("/proc/" + std::to_string(pid) + "/cmdline").find("caisson-oci") != std::string::npos);
    EXPECT_FALSE(exists(b.root() + "/made"));
}

// `spec --rootless` gives a config that runs (devpts without runc's gid=5, which only one
// mapped group would make EINVAL), and `exec` joins its user and network namespaces.
TEST(OciLifecycle, TheRootlessSpecRunsAndExecJoinsItsUserAndNetworkNamespaces) {
    Bundle b;
    TempDir other;
    ASSERT_EQ(run_oci({"spec", "--rootless", "--bundle", other.path()}).status, 0);
    json rootless = read_json(other.path() + "/config.json");
    for (const auto& m : rootless["mounts"]) {
        if (m["destination"] != "/dev/pts") continue;
        for (const auto& o : m["options"]) EXPECT_NE(o, "gid=5");
    }
    b.config["linux"] = rootless["linux"];
    b.config["mounts"] = rootless["mounts"];
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    RunResult started = b.oci("run", {"--bundle", b.path(), "--detach"}, "rl");
    ASSERT_EQ(started.status, 0) << started.err;
    RunResult e = b.oci("exec", {"rl", "/probe"}, "");
    ASSERT_EQ(e.status, 0) << e.err;
    json state = json::parse(b.oci("state", {}, "rl").out);
    std::string init = "/proc/" + std::to_string(state["pid"].get<int>()) + "/ns/";
    for (const char* ns : {"user", "net", "mnt", "pid"}) {
        char target[64] = {};
        ASSERT_GT(::readlink((init + ns).c_str(), target, sizeof(target) - 1), 0);
        EXPECT_EQ(e.probe["ns"][ns], target) << ns;
    }
    EXPECT_EQ(b.oci("delete", {"--force"}, "rl").status, 0);
}

// An ordinary user runs a container of its own, as with runc's rootless mode: the runtime
// writes its init's id maps (a runtime that is not dumpable has /proc/PID files owned by root,
// and its writes of uid_map were refused), with setgroups denied (the kernel's rule for that
// user), and the container's processes keep the groups they were made with; a config that
// names groups is refused, saying why.
TEST(OciLifecycle, AnOrdinaryUserRunsAContainerOfItsOwn) {
    RunOptions user;
    user.as_uid = kUnprivilegedUid;
    CAISSON_REQUIRE("user namespaces", user);
    Bundle b;
    TempDir spec(kUnprivilegedUid), state(kUnprivilegedUid);
    ASSERT_EQ(run_oci({"spec", "--rootless", "--bundle", spec.path()}, user).status, 0);
    json rootless = read_json(spec.path() + "/config.json");
    b.config["linux"] = rootless["linux"];
    b.config["mounts"] = rootless["mounts"];
    b.save();
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(b.path()))
        (void)::lchown(e.path().c_str(), kUnprivilegedUid, kUnprivilegedUid);
    ASSERT_EQ(::chown(b.path().c_str(), kUnprivilegedUid, kUnprivilegedUid), 0);
    auto oci = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"--root", state.path()});
        return run_oci(args, user);
    };
    // A createRuntime hook of that user's (pasta and slirp4netns are run so) opens the init's
    // namespaces through /proc/PID: the init is still dumpable for it then.
    const std::string saw = spec.path() + "/hook-saw";
    b.config["hooks"]["createRuntime"] = {
        {{"path", "/bin/sh"},
         {"args", {"sh", "-c", "pid=$(tr -d ' \n' | sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); readlink /proc/$pid/ns/net > " + saw}}}};
    b.save();
    RunResult r = oci({"run", "--bundle", b.path(), "mine"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(read_file(saw), r.probe["ns"]["net"].get<std::string>() + "\n") << "the hook reached the init's namespaces";
    b.config.erase("hooks");
    EXPECT_EQ(r.probe["uid"], 0);
    EXPECT_EQ(r.probe["uid_map"], "         0       " + std::to_string(kUnprivilegedUid) + "          1\n") << r.probe["uid_map"];
    EXPECT_EQ(r.probe["setgroups"], "deny\n");
    EXPECT_TRUE(std::filesystem::is_empty(state.path(), ec)) << "run deletes what it made";
    b.config["process"]["user"]["additionalGids"] = {5};
    b.save();
    RunResult groups = oci({"run", "--bundle", b.path(), "groups"});
    EXPECT_NE(groups.status, 0);
    EXPECT_NE(groups.err.find("additionalGids: setgroups is denied in the container's user namespace"), std::string::npos)
        << groups.err;
    // It joins other namespaces only through their user namespace (setns needs capabilities
    // where the runtime is): with a new one, refused, saying what works.
    b.config["process"]["user"].erase("additionalGids");
    // (Refused before the path is opened: any path but the runtime's own namespace's.)
    b.config["linux"]["namespaces"].push_back({{"type", "pid"}, {"path", b.path() + "/another-pid-namespace"}});
    for (auto it = b.config["linux"]["namespaces"].begin(); it != b.config["linux"]["namespaces"].end(); ++it)
        if ((*it)["type"] == "pid" && !it->contains("path")) {
            b.config["linux"]["namespaces"].erase(it);
            break;
        }
    b.save();
    RunResult joined = oci({"run", "--bundle", b.path(), "joined"});
    EXPECT_NE(joined.status, 0);
    EXPECT_NE(joined.err.find("an ordinary user's runtime joins the pid namespace"), std::string::npos) << joined.err;
}

// In a user namespace a linux.devices node is the host's, bound by the same path: a path that
// names another kind of file on the host is refused, never bound into the container.
TEST(OciLifecycle, InAUserNamespaceADevicePathMustNameThatDeviceOnTheHost) {
    Bundle b;
    TempDir other;
    ASSERT_EQ(run_oci({"spec", "--rootless", "--bundle", other.path()}).status, 0);
    json rootless = read_json(other.path() + "/config.json");
    b.config["linux"] = rootless["linux"];
    b.config["mounts"] = rootless["mounts"];
    TempDir host;
    std::ofstream(host.path() + "/secret") << "s";
    ::symlink((host.path() + "/secret").c_str(), (host.path() + "/link").c_str());
    for (const std::string& path : {host.path() + "/secret", host.path() + "/link"}) {
        b.config["linux"]["devices"] = {{{"path", path}, {"type", "c"}, {"major", 1}, {"minor", 3}}};
        RunResult r = b.run({}, "not-a-device");
        EXPECT_NE(r.status, 0);
        EXPECT_NE(r.err.find("host device is another file: " + path), std::string::npos) << r.err;
    }
    b.config["linux"]["devices"] = {{{"path", "/dev/zero"}, {"type", "c"}, {"major", 1}, {"minor", 5}}};
    RunResult ok = b.run({"--read", "/dev/zero"}, "a-device");
    ASSERT_EQ(ok.status, 0) << ok.err;
    EXPECT_EQ(ok.probe["reads"]["/dev/zero"], "data");
}

TEST(OciLifecycle, PauseResumeExecPsUpdateEventsList) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    b.config["process"]["env"] = {"PATH=/bin", "FROM_CONFIG=1"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "busy").status, 0);
    RunResult e = b.oci("exec", {"--env", "EXTRA=2", "busy", "/bin/sh", "-c", "echo $FROM_CONFIG$EXTRA; exit 3"}, "");
    EXPECT_EQ(e.status, 3) << e.err;
    EXPECT_EQ(e.out, "12\n");
    RunResult user = b.oci("exec", {"--user", "1000:1000", "--cwd", "/tmp", "busy", "/probe"}, "");
    ASSERT_EQ(user.status, 0) << user.err;
    EXPECT_EQ(user.probe["uid"], 1000);
    EXPECT_EQ(user.probe["cwd"], "/tmp");
    EXPECT_NE(user.probe["pid"], 1);
    json ps = json::parse(b.oci("ps", {"--format", "json"}, "busy").out);
    EXPECT_EQ(ps.size(), 1u);
    ASSERT_EQ(b.oci("pause", {}, "busy").status, 0);
    EXPECT_EQ(json::parse(b.oci("state", {}, "busy").out)["status"], "paused");
    RunResult frozen_exec = b.oci("exec", {"busy", "/bin/true"}, "");
    EXPECT_NE(frozen_exec.status, 0);
    EXPECT_NE(frozen_exec.err.find("paused"), std::string::npos);
    ASSERT_EQ(b.oci("resume", {}, "busy").status, 0);
    EXPECT_EQ(json::parse(b.oci("state", {}, "busy").out)["status"], "running");
    std::ofstream(b.path() + "/res.json") << R"({"pids": {"limit": 17}})";
    RunResult u = b.oci("update", {"--resources", b.path() + "/res.json"}, "busy");
    ASSERT_EQ(u.status, 0) << u.err;
    EXPECT_EQ(read_file("/sys/fs/cgroup/pids/caisson/busy/pids.max"), "17\n");
    json ev = json::parse(b.oci("events", {"--stats"}, "busy").out);
    EXPECT_EQ(ev["type"], "stats");
    EXPECT_EQ(ev["data"]["pids"]["current"], 1);
    json list = json::parse(run_oci({"--root", b.root(), "list", "--format", "json"}).out);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0]["id"], "busy");
    EXPECT_EQ(list[0]["status"], "running");
    ASSERT_EQ(b.oci("delete", {"--force"}, "busy").status, 0);
    EXPECT_FALSE(exists("/sys/fs/cgroup/pids/caisson/busy"));
}

TEST(OciLifecycle, HooksGetTheStateOnStdinInTheirOrder) {
    Bundle b;
    std::string log = b.path() + "/hooks.log";
    auto hook = [&](const std::string& name) {
        return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo " + name + " $(cat) >> " + log}}};
    };
    b.config["hooks"] = {{"createRuntime", {hook("createRuntime")}}, {"poststart", {hook("poststart")}}, {"poststop", {hook("poststop")}}};
    b.config["annotations"] = {{"org.example.key", "value"}};
    RunResult r = b.run({}, "hooked");
    ASSERT_EQ(r.status, 0) << r.err;
    std::istringstream lines(read_file(log));
    std::vector<std::string> order;
    std::string stage, rest;
    while (lines >> stage && std::getline(lines, rest)) {
        order.push_back(stage);
        json st = json::parse(rest);
        EXPECT_EQ(st["id"], "hooked");
        EXPECT_EQ(st["bundle"], b.path());
        EXPECT_EQ(st["annotations"]["org.example.key"], "value");
        if (stage == "createRuntime") {
            EXPECT_EQ(st["status"], "creating");
        }
        if (stage != "poststop") {
            EXPECT_GT(st["pid"].get<int>(), 0);
        } else {
            EXPECT_EQ(st["status"], "stopped");
        }
    }
    EXPECT_EQ(order, (std::vector<std::string>{"createRuntime", "poststart", "poststop"}));
}

// runtime-spec: the default devices and /dev's links are in every container.
TEST(OciRun, TheDefaultDevicesAndLinksAreThere) {
    Bundle b;
    int status = 0;
    std::string out = sh(b, "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T' /dev/$d; done; "
                            "for l in fd stdin stdout stderr; do echo /dev/$l $(readlink /dev/$l); done", &status);
    EXPECT_EQ(status, 0) << out;
    for (const char* line : {"/dev/null character special file 1:3", "/dev/zero character special file 1:5",
                             "/dev/full character special file 1:7", "/dev/random character special file 1:8",
                             "/dev/urandom character special file 1:9", "/dev/tty character special file 5:0",
                             "/dev/fd /proc/self/fd", "/dev/stdin /proc/self/fd/0", "/dev/stdout /proc/self/fd/1",
                             "/dev/stderr /proc/self/fd/2"})
        EXPECT_NE(out.find(line), std::string::npos) << line << " in:\n" << out;
}

// runtime-spec: a failing startContainer hook is an error and the container is stopped;
// kill of a `created` container reaches its init.
TEST(OciLifecycle, AFailingStartContainerHookStopsTheContainer) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    b.config["hooks"] = {{"startContainer", {{{"path", "/bin/false"}}}}};
    ASSERT_EQ(b.oci("create", {"--bundle", b.path()}, "sc").status, 0);
    RunResult start = b.oci("start", {}, "sc");
    EXPECT_NE(start.status, 0);
    EXPECT_NE(start.err.find("startContainer"), std::string::npos) << start.err;
    EXPECT_EQ(json::parse(b.oci("state", {}, "sc").out)["status"], "stopped");
    EXPECT_EQ(b.oci("delete", {}, "sc").status, 0);

    b.config.erase("hooks");
    ASSERT_EQ(b.oci("create", {"--bundle", b.path()}, "k").status, 0);
    EXPECT_EQ(b.oci("kill", {}, "k").status, 0) << "SIGTERM by default";
    EXPECT_EQ(b.oci("delete", {"--force"}, "k").status, 0);
}

// Hooks that run in the container's namespaces (createContainer, before pivot_root, and
// startContainer, inside the root) get the pid as the container sees it: 1, its own init.
TEST(OciLifecycle, ContainerNamespaceHooksSeeTheContainersPid) {
    Bundle b;
    b.config["root"]["readonly"] = false;
    std::string log = b.path() + "/create.log";
    b.config["hooks"] = {
        {"createContainer", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat >> " + log}}}}},
        {"startContainer", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat >> /start.log"}}}}}};
    RunResult r = b.run({}, "pids");
    ASSERT_EQ(r.status, 0) << r.err;
    json created = json::parse(read_file(log)), started = json::parse(read_file(b.rootfs() + "/start.log"));
    EXPECT_EQ(created["pid"], 1);
    EXPECT_EQ(started["pid"], 1);
    EXPECT_EQ(started["status"], "created");
    // The runtime ignores SIGPIPE while it hands a hook its state, and no longer: the
    // program, exec'd by the process that ran the startContainer hook, ignores what its
    // callers did (this test's own set, inherited from whoever started it) and no more.
    EXPECT_EQ(r.probe["status"]["SigIgn"], own_status_field("SigIgn")) << r.probe["status"];
}

// poststart and poststop failures are warnings: the hooks after a failing one still run
// (runtime-spec 1.2). A hook without `env` gets the runtime's environment.
TEST(OciLifecycle, AfterAFailingPoststartOrPoststopHookTheRestStillRun) {
    Bundle b;
    std::string log = b.path() + "/hooks.log";
    auto fail = json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "exit 3"}}};
    auto mark = [&](const std::string& name) {
        return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo " + name + " ${CAISSON_HOOK_ENV:-none} >> " + log}}};
    };
    b.config["hooks"] = {{"poststart", {fail, mark("poststart")}}, {"poststop", {fail, mark("poststop")}}};
    RunOptions o;
    o.env = {"CAISSON_HOOK_ENV=inherited"};
    b.config["process"]["args"] = {"/probe"};
    RunResult r = b.oci("run", {"--bundle", b.path()}, "failing-hooks", o);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(read_file(log), "poststart inherited\npoststop inherited\n");
    EXPECT_NE(r.err.find("warning: poststart hook /bin/sh: exit status 3"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("warning: poststop hook /bin/sh: exit status 3"), std::string::npos) << r.err;
}

TEST(OciLifecycle, AFailingOrSlowCreateHookFailsCreateAndLeavesNothing) {
    Bundle b;
    b.config["hooks"] = {{"createRuntime", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "sleep 10"}}, {"timeout", 1}}}}};
    RunResult r = b.oci("create", {"--bundle", b.path()}, "slow");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
    EXPECT_FALSE(exists(b.root() + "/slow"));
    // The lifecycle goes on at delete: the poststop hooks still run (runtime-spec).
    std::string log = b.path() + "/poststop.log";
    b.config["hooks"] = {{"createContainer", {{{"path", "/bin/false"}}}},
                         {"poststop", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat >> " + log}}}}}};
    RunResult f = b.oci("create", {"--bundle", b.path()}, "fails");
    EXPECT_NE(f.status, 0);
    EXPECT_NE(f.err.find("createContainer hook /bin/false: exit status 1"), std::string::npos) << f.err;
    EXPECT_FALSE(exists(b.root() + "/fails"));
    EXPECT_FALSE(exists("/sys/fs/cgroup/memory/caisson/fails"));
    ASSERT_TRUE(exists(log)) << "poststop ran";
    EXPECT_EQ(json::parse(read_file(log))["status"], "stopped");
}

TEST(OciLifecycle, TheConsoleSocketGetsOnePtyMaster) {
    Bundle b;
    b.config["process"]["terminal"] = true;
    b.config["process"]["consoleSize"] = {{"height", 33}, {"width", 101}};
    b.config["process"]["args"] = {"/bin/sh", "-c", "stty size; echo tty:$(tty)"};
    std::string sock = b.path() + "/console.sock";
    int ls = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, sock.c_str());
    ASSERT_EQ(::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(ls, 1), 0);
    int master = -1, messages = 0;
    std::thread receiver([&] {
        int c = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
        for (;;) {
            char buf[64];
            iovec iov{buf, sizeof(buf)};
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof(control);
            if (::recvmsg(c, &msg, MSG_CMSG_CLOEXEC) <= 0) break;
            ++messages;
            if (cmsghdr* h = CMSG_FIRSTHDR(&msg)) std::memcpy(&master, CMSG_DATA(h), sizeof(int));
        }
        ::close(c);
    });
    RunResult c = b.oci("create", {"--bundle", b.path(), "--console-socket", sock}, "tty");
    receiver.join();
    ::close(ls);
    ASSERT_EQ(c.status, 0) << c.err;
    EXPECT_EQ(messages, 1);
    ASSERT_GE(master, 0);
    EXPECT_TRUE(::isatty(master));
    ASSERT_EQ(b.oci("start", {}, "tty").status, 0);
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = ::read(master, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(master);
    EXPECT_NE(out.find("33 101"), std::string::npos) << out;
    EXPECT_NE(out.find("tty:/dev/pts/0"), std::string::npos) << out;
    b.oci("delete", {"--force"}, "tty");
}

// A terminal in the foreground, as runc gives it: `run` (and `exec -t`) of a process with a
// terminal and no console socket relays the pty to the runtime's own stdio.
TEST(OciLifecycle, AForegroundTerminalWithoutAConsoleSocket) {
    Bundle b;
    b.config["process"]["terminal"] = true;
    // /dev/console is the container's terminal (runtime-spec: a bind of the pty).
    b.config["process"]["args"] = {"/bin/sh", "-c",
                                   "tty; echo in-the-pty; test \"$(stat -c %t:%T /dev/console)\" = \"$(stat -c %t:%T $(tty))\" "
                                   "&& echo console-is-the-pty; exit 5"};
    RunResult r = b.oci("run", {"--bundle", b.path()}, "fg");
    EXPECT_EQ(r.status, 5) << r.err;
    EXPECT_NE(r.out.find("/dev/pts/0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("in-the-pty"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("console-is-the-pty"), std::string::npos) << r.out;
    // The caller's input reaches the process through the pty (written without blocking).
    TempDir in;
    std::ofstream(in.path() + "/input") << "hello\n";
    kernel_fd input(::open((in.path() + "/input").c_str(), O_RDONLY | O_CLOEXEC));
    RunOptions with_input;
    with_input.stdin_fd = input.fd;
    b.config["process"]["args"] = {"/bin/sh", "-c", "read x; echo got:$x; exit 4"};
    RunResult typed = b.oci("run", {"--bundle", b.path()}, "fgin", with_input);
    EXPECT_EQ(typed.status, 4) << typed.err;
    EXPECT_NE(typed.out.find("got:hello"), std::string::npos) << typed.out;
    b.config["process"]["terminal"] = false;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "fgexec").status, 0);
    RunResult e = b.oci("exec", {"-t", "fgexec", "/bin/sh", "-c", "tty; exit 6"}, "");
    EXPECT_EQ(e.status, 6) << e.err;
    EXPECT_NE(e.out.find("/dev/pts/"), std::string::npos) << e.out;
    RunResult detached = b.oci("exec", {"-t", "--detach", "fgexec", "/bin/true"}, "");
    EXPECT_NE(detached.status, 0) << "a detached terminal still needs a console socket";
    b.oci("delete", {"--force"}, "fgexec");
}

TEST(OciLifecycle, PreservedDescriptorsPassAndOthersDoNot) {
    Bundle b;
    b.config["process"]["args"] = {"/probe"};
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    RunOptions o;
    o.extra_fds = {{3, p[1]}, {4, p[1]}};
    b.save();
    RunResult r = run_oci({"--root", b.root(), "run", "--bundle", b.path(), "--preserve-fds", "1", "fds"}, o);
    ::close(p[0]);
    ::close(p[1]);
    ASSERT_EQ(r.status, 0) << r.err;
    std::string fds = r.probe["fds"].dump();
    EXPECT_NE(fds.find("\"fd\":3"), std::string::npos) << fds;
    EXPECT_EQ(fds.find("\"fd\":4"), std::string::npos) << fds;
    run_oci({"--root", b.root(), "delete", "--force", "fds"});
}

// CVE-2022-29162: a capability added by `exec --cap` is not inheritable, and not ambient.
TEST(OciLifecycle, ExecCapGoesToBoundingEffectiveAndPermittedOnly) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "caps").status, 0);
    RunResult r = b.oci("exec", {"--cap", "CAP_SYS_PTRACE", "caps", "/probe"}, "");
    ASSERT_EQ(r.status, 0) << r.err;
    const uint64_t ptrace = 1ull << 19;
    auto set = [&](const char* name) { return std::stoull(r.probe["status"][name].get<std::string>(), nullptr, 16); };
    EXPECT_TRUE(set("CapPrm") & ptrace);
    EXPECT_TRUE(set("CapEff") & ptrace);
    EXPECT_TRUE(set("CapBnd") & ptrace);
    EXPECT_EQ(set("CapInh"), 0u);
    EXPECT_EQ(set("CapAmb"), 0u);
    b.oci("delete", {"--force"}, "caps");
}

// A container whose root is the host's, without CAP_SYS_ADMIN, makes no user namespace, in
// run and exec alike, config filter or none: in one mapping 0 to 0 it would own the cgroup v1
// limit files of its own cgroup and could raise them (an attack run did). clone3 answers
// ENOSYS so that the C library falls back to clone, whose flags a filter reads. A container
// with a user namespace of its own, or with CAP_SYS_ADMIN, keeps the call.
TEST(OciEscape, AContainerAsTheHostsRootMakesNoUserNamespace) {
    const std::string unshare_user = "272,0x10000000", clone3 = "435,0,0", setns_any = "308,-1,0",
                      setns_user = "308,-1,0x10000000";
    const std::vector<std::string> args = {"--call", unshare_user, "--call", clone3, "--call", setns_any, "--call", setns_user};
    {
        Bundle b;
        b.config["linux"].erase("seccomp");
        RunResult r = b.run(args);
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.probe["calls"][unshare_user], "EPERM");
        EXPECT_EQ(r.probe["calls"][clone3], "ENOSYS");
        // Entering one its uid owns (a runtime's) gives the same: by type 0 or CLONE_NEWUSER.
        EXPECT_EQ(r.probe["calls"][setns_any], "EPERM");
        EXPECT_EQ(r.probe["calls"][setns_user], "EPERM");
        b.config["process"]["args"] = {"/bin/sleep", "60"};
        ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "nouserns").status, 0);
        std::vector<std::string> exec = {"nouserns", "/probe"};
        exec.insert(exec.end(), args.begin(), args.end());
        RunResult e = b.oci("exec", exec, "");
        EXPECT_EQ(e.status, 0) << e.err;
        EXPECT_EQ(e.probe["calls"][unshare_user], "EPERM");
        EXPECT_EQ(b.oci("delete", {"--force"}, "nouserns").status, 0);
    }
    {
        Bundle b;  // the config's own filter, without no_new_privs: both go in while privileged
        b.config["process"]["noNewPrivileges"] = false;
        b.config["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", {"SCMP_ARCH_X86_64"}},
                                        {"syscalls", {{{"names", {"acct"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
        RunResult r = b.run(args);
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.probe["calls"][unshare_user], "EPERM");
        EXPECT_EQ(r.probe["status"]["NoNewPrivs"], "0");
    }
    {
        Bundle b;
        b.config["linux"].erase("seccomp");
        in_a_user_namespace(b);
        if (HasFatalFailure()) return;
        RunResult r = b.run(args);
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.probe["calls"][unshare_user], "ok");
    }
    {
        Bundle b;  // a user namespace joined by path that maps host uid 0 is the host's root's
        NamespaceHolder holder(CLONE_NEWUSER, "0 0 65536\n");
        ASSERT_GT(holder.pid, 0);
        b.config["linux"].erase("seccomp");
        b.config["linux"]["namespaces"].push_back({{"type", "user"}, {"path", holder.path("user")}});
        RunResult r = b.run(args);
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.probe["calls"][unshare_user], "EPERM");
    }
    {
        Bundle b;  // CAP_SYS_ADMIN in the bounding set alone, under no_new_privs: never held
        b.config["linux"].erase("seccomp");
        b.config["process"]["capabilities"]["bounding"].push_back("CAP_SYS_ADMIN");
        RunResult r = b.run(args);
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.probe["calls"][unshare_user], "EPERM");
    }
    {
        Bundle b;
        b.config["linux"].erase("seccomp");
        for (const char* set : {"bounding", "effective", "permitted"}) b.config["process"]["capabilities"][set].push_back("CAP_SYS_ADMIN");
        RunResult r = b.run(args);
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_EQ(r.probe["calls"][unshare_user], "ok");
    }
}

// The kernel gives the uid that made a user namespace every capability over the namespaces
// it owns: a container in the runtime's user namespace that joined one of them by path could
// set up its network, or enter that user namespace as its owner. Refused, naming the path.
TEST(OciBadInput, ANamespaceOwnedByAnotherUserNamespaceIsRefusedWithoutIt) {
    Bundle b;
    NamespaceHolder holder(CLONE_NEWUSER | CLONE_NEWNET);
    ASSERT_GT(holder.pid, 0);
    join_by_path(b, "network", holder.path("net"));
    RunResult r = b.run();
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(holder.path("net") + " belongs to another user namespace"), std::string::npos) << r.err;
    // With that user namespace joined too, it runs.
    b.config["linux"]["namespaces"].push_back({{"type", "user"}, {"path", holder.path("user")}});
    give_rootfs_to_100000(b);
    if (HasFatalFailure()) return;
    RunResult joined = b.run();
    ASSERT_EQ(joined.status, 0) << joined.err;
    EXPECT_EQ(joined.probe["ns"]["net"], holder.id("net"));
}

// The same one level down: the container joins a user namespace mapping 0 to 0, and a network
// namespace owned by a user namespace made below it by uid 0, which that uid owns.
TEST(OciBadInput, ANamespaceOwnedBelowTheJoinedUserNamespaceIsRefused) {
    Bundle b;
    NamespaceHolder above(CLONE_NEWUSER, "0 0 65536\n");
    ASSERT_GT(above.pid, 0);
    int ready[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    pid_t below = ::fork();
    if (below == 0) {
        int ns = ::open(above.path("user").c_str(), O_RDONLY | O_CLOEXEC);
        char ok = ns >= 0 && ::setns(ns, CLONE_NEWUSER) == 0 && ::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 1 : 0;
        (void)!::write(ready[1], &ok, 1);
        ::pause();
        ::_exit(0);
    }
    ::close(ready[1]);
    char ok = 0;
    EXPECT_EQ(::read(ready[0], &ok, 1), 1);
    ::close(ready[0]);
    struct Reap {
        pid_t pid;
        ~Reap() { ::kill(pid, SIGKILL), ::waitpid(pid, nullptr, 0); }
    } reap{below};
    ASSERT_EQ(ok, 1) << "making the namespaces below";
    b.config["linux"]["namespaces"].push_back({{"type", "user"}, {"path", above.path("user")}});
    join_by_path(b, "network", "/proc/" + std::to_string(below) + "/ns/net");
    RunResult r = b.run();
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("belongs to another user namespace, below the container's"), std::string::npos) << r.err;
}

// CVE-2024-21626 and its variants, in both ways a cwd reaches caisson-oci: an image's
// WORKDIR (process.cwd) and `exec --cwd`. A link through a descriptor the init or the exec
// helper might hold (the cgroup directory, the state directory, the runtime's log, one the
// caller left open), or through /proc's other links, is refused or resolved inside the root.
std::vector<std::string> hostile_cwds() {
    std::vector<std::string> paths{"/proc/self/cwd/..", "/proc/1/cwd", "/proc/self/root", "/proc/self/root/..",
                                   "/proc/thread-self/fd/3", "/proc/1/root", "/../../.."};
    for (int fd = 0; fd <= 64; ++fd) paths.push_back("/proc/self/fd/" + std::to_string(fd));
    return paths;
}

void expect_inside_or_refused(const RunResult& r, const std::string& cwd) {
    if (r.status == 0) {
        EXPECT_EQ(r.probe["cwd_inside_root"], true) << cwd << ": the process ran in " << r.probe["cwd"];
    } else {
        EXPECT_NE(r.err.find("cwd"), std::string::npos) << cwd << ": " << r.status << " " << r.err;
        EXPECT_TRUE(r.probe.is_null()) << cwd << ": the process ran in " << r.probe["cwd"];
    }
}

// HOME comes from the image's /etc/passwd, read by the runtime as root before the device
// cgroup applies: a FIFO (or a host device node) there is never opened, so create neither
// hangs nor touches a device.
TEST(OciEscape, AnImagesNodeInPlaceOfEtcPasswdIsNeverOpened) {
    Bundle b;
    ASSERT_EQ(::mkfifo((b.rootfs() + "/etc/passwd").c_str(), 0644), 0);
    b.config["process"]["env"] = {"PATH=/bin"};
    EXPECT_EQ(sh(b, "echo \"$HOME\""), "/\n");
}

// An image whose /proc (or /sys) is a symlink: the procfs would land where the link points,
// and the link stay where the runtime looks for /proc (CVE-2019-16884's class). Refused, as
// runc refuses it, naming the mount; nothing runs.
TEST(OciEscape, AnImagesProcOrSysThatIsASymlinkIsRefused) {
    for (const char* dir : {"proc", "sys"}) {
        Bundle b;
        const std::string at = b.rootfs() + "/" + dir;
        std::filesystem::remove_all(at);
        std::filesystem::create_directories(b.rootfs() + "/tmp/elsewhere");
        std::filesystem::create_symlink("/tmp/elsewhere", at);
        RunResult r = b.run({}, std::string("link") + dir);
        EXPECT_NE(r.status, 0) << dir;
        EXPECT_TRUE(r.probe.is_null()) << dir << ": the process ran";
        EXPECT_NE(r.err.find("non-directory"), std::string::npos) << r.err;
    }
}

// An image's link that leads a mount's destination back to the root (`/data -> /`) would
// stack the mount over the whole root, and an exec'd process would enter the container
// without its /proc, /dev or masks: refused.
TEST(OciEscape, AMountLedOntoTheRootByAnImagesLinkIsRefused) {
    Bundle b;
    std::filesystem::create_symlink("/", b.rootfs() + "/data");
    TempDir src;
    b.config["mounts"].push_back({{"destination", "/data"}, {"type", "bind"}, {"source", src.path()}, {"options", {"rbind", "ro"}}});
    RunResult r = b.run({}, "onroot");
    EXPECT_NE(r.status, 0);
    EXPECT_TRUE(r.probe.is_null()) << "the process ran";
    EXPECT_NE(r.err.find("mount on the root itself: /data"), std::string::npos) << r.err;
}

// After the change of ids the init is still caisson-oci's image, waiting at the start
// barrier: not dumpable, even where fs.suid_dumpable would make it so, or a process of the
// same uid could ptrace it past Landlock and the stacked filter.
TEST(OciEscape, TheWaitingInitIsNotDumpableAfterItsIdsChange) {
    const char* knob = "/proc/sys/fs/suid_dumpable";
    std::string was = read_file(knob);
    ASSERT_FALSE(was.empty());
    struct Restore {
        const char* knob;
        std::string value;
        ~Restore() { std::ofstream(knob) << value; }
    } restore{knob, was};
    std::ofstream(knob) << "1\n";
    ASSERT_EQ(read_file(knob), "1\n");
    Bundle b;
    b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    std::string pid_file = b.path() + "/pid";
    ASSERT_EQ(b.oci("create", {"--bundle", b.path(), "--pid-file", pid_file}, "dumpable").status, 0);
    struct stat st{};
    ASSERT_EQ(::stat(("/proc/" + read_file(pid_file) + "/environ").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u) << "/proc/PID/environ of a dumpable process is its own uid's";
    EXPECT_EQ(b.oci("delete", {"--force"}, "dumpable").status, 0);
}

// A container granted CAP_SYS_PTRACE (no user namespace of its own) takes over, past
// non-dumpability, the process `exec` starts in its pid namespace before it execs (an attack
// run injected a mount of procfs into it, with the CAP_SYS_ADMIN it kept to install the
// config's filter without no_new_privs, and wrote the host's core_pattern). That process now
// holds from its clone what the program will: every privileged step is its helper's, outside
// the container's pid namespace. Docker's shape: a config filter, no_new_privs off.
TEST(OciEscape, TheProcessExecStartsHoldsNoMoreThanTheProgramBeforeItsExec) {
    Bundle b;
    for (const char* set : {"bounding", "effective", "permitted"}) b.config["process"]["capabilities"][set].push_back("CAP_SYS_PTRACE");
    b.config["process"]["noNewPrivileges"] = false;
    b.config["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                    {"syscalls", {{{"names", {"kexec_load"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
    uint64_t allowed = 0;
    for (const auto& name : b.config["process"]["capabilities"]["effective"]) {
        static const std::map<std::string, int> bits{{"CAP_AUDIT_WRITE", 29}, {"CAP_KILL", 5}, {"CAP_NET_BIND_SERVICE", 10},
                                                     {"CAP_SYS_PTRACE", 19}};
        ASSERT_TRUE(bits.count(name)) << "a capability this test does not know: " << name;
        allowed |= 1ull << bits.at(name);
    }
    b.config["process"]["args"] = {"/probe", "--seize-next", host_ns("pid") + ",20"};
    RunOptions o;
    std::vector<int> execs;
    // `exec` after the container's process said it is ready: the id is the container's.
    o.on_ready = [&](pid_t) {
        // Until the attacker has taken one and ended the container (an exec then fails).
        // The caller's environment holds a secret the process must not carry into the container.
        RunOptions secret;
        secret.env = {"CAISSON_TEST_SECRET=hunter2"};
        for (int i = 0; i < 5 && (execs.empty() || execs.back() == 0); ++i)
            execs.push_back(run_oci({"--root", b.root(), "exec", "seize", "/bin/true"}, secret).status);
    };
    RunResult r = b.oci("run", {"--bundle", b.path()}, "seize", o);
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_FALSE(execs.empty());  // (the attacker's end ends the container, and the process with it)
    const nlohmann::json& seized = r.probe["seized"];
    ASSERT_TRUE(seized.is_array()) << seized.dump();
    bool before_exec = false;
    for (const auto& one : seized) {
        if (one.value("name", "").rfind("cx-", 0) != 0) continue;
        before_exec = true;
        for (const char* set : {"CapEff", "CapPrm", "CapBnd", "CapAmb"}) {
            const uint64_t caps = std::stoull(one[set].get<std::string>(), nullptr, 16);
            EXPECT_EQ(caps & ~allowed, 0u) << set << " beyond the program's, before its exec: " << one.dump();
        }
        EXPECT_EQ(one["Seccomp"], "2") << "the config's filter is in before the clone: " << one.dump();
        EXPECT_EQ(one["environ_secret"], false) << "the runtime's caller's environment, in its memory: " << one.dump();
    }
    if (!before_exec) GTEST_SKIP() << "the attacker took no process before its exec in five tries: " << seized.dump();

    // Another user with a capability of `exec --cap`: an exec as that user keeps only its
    // ambient set, so the process holds nothing from its clone (it held the capability, and
    // an attack run read the host's /etc/shadow with CAP_DAC_READ_SEARCH through it).
    execs.clear();
    o.on_ready = [&](pid_t) {
        for (int i = 0; i < 5 && (execs.empty() || execs.back() == 0); ++i)
            execs.push_back(run_oci({"--root", b.root(), "exec", "--user", "1000:1000", "--cap", "CAP_DAC_READ_SEARCH", "seize-user",
                                     "/bin/true"})
                                .status);
    };
    RunResult user = b.oci("run", {"--bundle", b.path()}, "seize-user", o);
    ASSERT_EQ(user.status, 0) << user.err;
    ASSERT_FALSE(execs.empty());
    bool user_before_exec = false;
    for (const auto& one : user.probe["seized"]) {
        if (one.value("name", "").rfind("cx-", 0) != 0) continue;
        user_before_exec = true;
        EXPECT_EQ(one["CapEff"], "0000000000000000") << one.dump();
        EXPECT_EQ(one["CapPrm"], "0000000000000000") << one.dump();
        EXPECT_EQ(one["uid"], "1000") << one.dump();
    }
    if (!user_before_exec) GTEST_SKIP() << "no process of --user taken before its exec: " << user.probe["seized"].dump();
    // And such an exec, untouched, runs.
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "user-plain").status, 0);
    RunResult plain = b.oci("exec", {"--user", "1000:1000", "--cap", "CAP_DAC_READ_SEARCH", "user-plain", "/bin/id", "-u"}, "");
    EXPECT_EQ(plain.status, 0) << plain.err;
    EXPECT_EQ(plain.out, "1000\n");
    EXPECT_EQ(b.oci("delete", {"--force"}, "user-plain").status, 0);
}

// A container that joins another's pid namespace (shareProcessNamespace, --pid container:)
// has its init there from its clone, still the runtime's: a process granted CAP_SYS_PTRACE
// opened its /proc/PID/root (the host's, before the pivot) in attack runs and made a directory
// on the host, from that namespace, from one below it, and from another container handed a
// descriptor of that namespace's /proc over a shared volume. So while any container's process
// holds or could gain CAP_SYS_PTRACE (in any set, in any thread), a pid namespace is not
// joined; without one, the second container joins and sees the first's processes.
TEST(OciEscape, APidNamespaceIsNotJoinedWhileAContainerCouldTraceTheInit) {
    Bundle pause;
    pause.config["process"]["args"] = {"/bin/sleep", "60"};
    const std::string pid_file = pause.path() + "/pid";
    ASSERT_EQ(pause.oci("run", {"--bundle", pause.path(), "--detach", "--pid-file", pid_file}, "pause").status, 0);
    auto joiner = [&](Bundle& b) {
        for (auto& n : b.config["linux"]["namespaces"])
            if (n["type"] == "pid") n["path"] = "/proc/" + read_file(pid_file) + "/ns/pid";
    };
    Bundle second;
    joiner(second);
    RunResult joined = second.run({}, "joins");
    EXPECT_EQ(joined.status, 0) << joined.err;
    EXPECT_NE(joined.probe["pid"], 1) << "in the first container's pid namespace";

    // A container of its own pid namespace elsewhere, granted CAP_SYS_PTRACE: refused.
    Bundle tracer;
    for (const char* set : {"bounding", "effective", "permitted"})
        tracer.config["process"]["capabilities"][set].push_back("CAP_SYS_PTRACE");
    tracer.config["process"]["args"] = {"/bin/sleep", "60"};
    const std::string tracer_pid = tracer.path() + "/pid";
    ASSERT_EQ(tracer.oci("run", {"--bundle", tracer.path(), "--detach", "--pid-file", tracer_pid}, "tracer").status, 0);
    Bundle third;
    joiner(third);
    RunResult refused = third.run({}, "joins-beside-tracer");
    EXPECT_NE(refused.status, 0);
    // (The process named is the first found: on a host with other such containers, another.)
    EXPECT_NE(refused.err.find(" (the host's pid) of a container holds or could gain CAP_SYS_PTRACE"), std::string::npos)
        << refused.err;
    ASSERT_EQ(tracer.oci("delete", {"--force"}, "tracer").status, 0);

    // CAP_SYS_PTRACE in the bounding set alone, without no_new_privs (a setuid-root program
    // would give it): the leader drops it, and a thread keeps it in its own set.
    tracer.config["process"]["capabilities"] = {{"bounding", {"CAP_SYS_PTRACE", "CAP_SETPCAP", "CAP_KILL"}},
                                                {"effective", {"CAP_SETPCAP", "CAP_KILL"}},
                                                {"permitted", {"CAP_SETPCAP", "CAP_KILL"}}};
    tracer.config["process"]["noNewPrivileges"] = false;
    tracer.config["process"]["args"] = {"/probe", "--split-ptrace", "--wait-signal"};
    RunOptions o;
    RunResult split_refused;
    o.on_ready = [&](pid_t) {
        Bundle fourth;
        joiner(fourth);
        split_refused = fourth.run({}, "joins-beside-split");
        run_oci({"--root", tracer.root(), "kill", "split", "TERM"});
    };
    RunResult split = tracer.oci("run", {"--bundle", tracer.path()}, "split", o);
    EXPECT_EQ(split.probe["split_ptrace"], "ok") << split.out << split.err;
    EXPECT_NE(split_refused.status, 0);
    EXPECT_NE(split_refused.err.find("could gain CAP_SYS_PTRACE"), std::string::npos) << split_refused.err;
    ASSERT_EQ(pause.oci("delete", {"--force"}, "pause").status, 0);
}

// A session keyring of the container's own (runc's and crun's rule): with keyctl allowed by
// its filter, a container that kept its caller's would hold the caller's keys, and share
// them with every other container. --no-new-keyring keeps the caller's, as runc's does.
TEST(OciEscape, AContainerHasASessionKeyringOfItsOwn) {
    const long mine = ::syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 1);
    if (mine < 0 && (errno == ENOSYS || errno == EPERM || errno == EACCES))
        GTEST_SKIP() << "keyctl is not there for this process (" << strerrorname_np(errno) << "): nothing to share";
    ASSERT_GT(mine, 0) << std::strerror(errno);
    Bundle b;
    b.config["linux"].erase("seccomp");  // keyctl allowed, as a permissive image's filter would
    // In a user namespace of its own: without one, caisson-oci refuses the keyring calls
    // (AContainerSharingTheHostsUidsCannotReachItsKeyrings).
    in_a_user_namespace(b);
    if (HasFatalFailure()) return;
    b.config["process"]["args"] = {"/probe", "--session-keyring"};
    RunResult r = b.oci("run", {"--bundle", b.path()}, "keys");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.probe["session_keyring"], std::to_string(mine)) << "the container's init holds its caller's keyring";
    EXPECT_EQ(r.probe["session_keyring"].get<std::string>().find_first_not_of("0123456789"), std::string::npos) << r.probe;
    b.oci("delete", {"--force"}, "keys");

    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "keys").status, 0);
    RunResult e = b.oci("exec", {"keys", "/probe", "--session-keyring"}, "");
    ASSERT_EQ(e.status, 0) << e.err;
    EXPECT_NE(e.probe["session_keyring"], std::to_string(mine)) << "an exec'd process holds its caller's keyring";
    b.oci("delete", {"--force"}, "keys");

    b.config["process"]["args"] = {"/probe", "--session-keyring"};
    RunResult k = b.oci("run", {"--bundle", b.path(), "--no-new-keyring"}, "keys");
    ASSERT_EQ(k.status, 0) << k.err;
    EXPECT_EQ(k.probe["session_keyring"], std::to_string(mine)) << "--no-new-keyring keeps the caller's";
    b.oci("delete", {"--force"}, "keys");
}

// This process's children whose cgroup (v2, or any v1 hierarchy) ends in `suffix`.
std::vector<pid_t> children_in_cgroup(const std::string& suffix) {
    std::vector<pid_t> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream status(e.path() / "status");
        bool mine = false;
        for (std::string line; std::getline(status, line);)
            if (line.rfind("PPid:", 0) == 0) mine = std::atoi(line.c_str() + 5) == ::getpid();
        if (!mine) continue;
        std::ifstream groups(e.path() / "cgroup");
        for (std::string line; std::getline(groups, line);)
            if (line.size() >= suffix.size() && line.compare(line.size() - suffix.size(), suffix.size(), suffix) == 0) {
                out.push_back(std::stoi(name));
                break;
            }
    }
    return out;
}

// From its setns to its exec, `exec`'s process is in the container's pid namespace, where the
// container may signal it (CVE-2016-9962's window, another way). An attack run stopped it
// there and the runtime waited for ever, deaf to SIGTERM; killed there, `exec -d` said 0 and
// wrote a pid file for a process that never ran. Now the exec fails at once and says why.
TEST(OciEscape, AnExecTheContainerStopsOrKillsBeforeItsExecFailsAtOnce) {
    for (const std::string sig : {"STOP", "KILL"}) {
        SCOPED_TRACE(sig);
        Bundle b;
        std::filesystem::copy_file(CAISSON_ATTACKER, b.rootfs() + "/attacker");
        b.config["process"]["args"] = {"/bin/sh", "-c",
                                       "/attacker " + host_ns("pid") + " signal-exec " + sig + ":caught-me >/dev/null & exec /bin/sleep 120"};
        b.config["linux"]["resources"] = {{"pids", {{"limit", 64}}}};
        RunResult started = b.oci("run", {"--bundle", b.path(), "--detach"}, "sig");
        ASSERT_EQ(started.status, 0) << started.err;
        const std::string pid_file = b.path() + "/exec.pid";
        bool caught = false;
        for (int i = 0; i < 30 && !caught; ++i) {
            RunResult r = b.oci("exec", {"-d", "--pid-file", pid_file, "sig", "/bin/echo", "caught-me"}, "");
            if (r.status == 0) {  // it ran before the attacker saw it
                std::filesystem::remove(pid_file);
                continue;
            }
            caught = true;
            EXPECT_NE(r.err.find(sig == "STOP" ? "stopped (SIGSTOP) before its exec" : "killed before its exec"), std::string::npos)
                << r.err;
            EXPECT_FALSE(std::filesystem::exists(pid_file)) << "a pid file for a process that never ran";
        }
        EXPECT_TRUE(caught) << "the attacker never caught an exec's process before its exec";
        // Nothing of the stopped one is left in the container: its init, the attacker, and
        // what exec'd, which ended (the runtime's own process never stays).
        RunResult ps = b.oci("ps", {}, "sig");
        EXPECT_EQ(ps.out.find("caisson-oci"), std::string::npos) << ps.out;
        // An exec that ran before the attacker saw it (exec -d) may be stopped by it after its
        // exec: its parent is now this process (a subreaper, the runtime gone), and a zombie
        // only this process can reap would keep delete from removing the cgroup while this
        // process waits on delete. Killed and reaped first, as a shim reaps its orphans.
        // In whatever order they end: the container's init, also this process's child, ends
        // only once every process of its pid namespace, that zombie among them, is reaped.
        ASSERT_EQ(b.oci("kill", {"--all", "sig", "KILL"}, "").status, 0);
        for (size_t left = children_in_cgroup("/caisson/sig").size(); left > 0;) {
            const pid_t reaped = ::waitpid(-1, nullptr, 0);
            if (reaped > 0) --left;
            else if (errno != EINTR) break;
        }
        b.oci("delete", {"--force"}, "sig");
    }
}

// A uid the host shares (no user namespace of the container's own) shares its user keyring:
// an attack run filled and emptied the host root's from a root container whose config had no
// seccomp filter. caisson-oci's own guard refuses the keyring calls then.
TEST(OciEscape, AContainerSharingTheHostsUidsCannotReachItsKeyrings) {
    Bundle b;
    std::filesystem::copy_file(CAISSON_ATTACKER, b.rootfs() + "/attacker");
    b.config["linux"].erase("seccomp");
    b.config["process"]["args"] = {"/attacker", host_ns("pid"), "host-keyring"};
    RunResult r = b.oci("run", {"--bundle", b.path()}, "keys");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("blocked: EPERM"), std::string::npos) << r.out << r.err;
    b.oci("delete", {"--force"}, "keys");
    // And a process exec'd into such a container.
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "keys").status, 0);
    RunResult e = b.oci("exec", {"keys", "/attacker", host_ns("pid"), "host-keyring"}, "");
    EXPECT_EQ(e.status, 0) << e.err;
    EXPECT_NE(e.out.find("blocked: EPERM"), std::string::npos) << e.out << e.err;
    b.oci("delete", {"--force"}, "keys");
}

// A container whose cgroup mount is writable may make groups beneath its own and hide a
// process there: ps and kill --all list the whole tree, and delete removes every group (an
// attack run's process was missed by both, and delete left the groups in every hierarchy).
TEST(OciEscape, ProcessesInGroupsTheContainerMadeAreFoundAndTheGroupsGo) {
    // The hybrid's v1 hierarchies are where a container's mount shows them all as directories.
    if (!std::filesystem::is_directory("/sys/fs/cgroup/pids")) GTEST_SKIP() << "no cgroup v1 pids hierarchy here";
    Bundle b;
    std::filesystem::create_symlink("busybox", b.rootfs() + "/bin/mkdir");
    for (auto& m : b.config["mounts"])
        if (m["destination"] == "/sys/fs/cgroup") {
            nlohmann::json opts = nlohmann::json::array();
            for (auto& o : m["options"])
                if (o != "ro") opts.push_back(o);
            opts.push_back("rw");
            m["options"] = opts;
        }
    b.config["linux"]["resources"] = {{"pids", {{"limit", 64}}}};
    // The hidden one moves itself into a group ".hide" of every hierarchy (a dot name: the
    // first walk of the tree skipped those), then says so.
    b.config["process"]["args"] = {"/bin/sh", "-c",
                                   "/bin/sh -c 'for h in /sys/fs/cgroup/*; do mkdir -p $h/.hide && echo $$ > $h/.hide/cgroup.procs; done 2>/dev/null; "
                                   "echo hidden > /dev/shm/hidden; exec /bin/sleep 121' & exec /bin/sleep 120"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "hider").status, 0);
    RunResult ready;
    for (int i = 0; i < 200; ++i) {  // the shell's few steps; `cat` fails until the file is there
        ready = b.oci("exec", {"hider", "/bin/cat", "/dev/shm/hidden"}, "");
        if (ready.status == 0) break;
    }
    ASSERT_EQ(ready.out, "hidden\n") << ready.err;
    auto listed = [&] {
        RunResult ps = b.oci("ps", {"--format", "json"}, "hider");
        return ps.status == 0 ? nlohmann::json::parse(ps.out).size() : size_t{0};
    };
    EXPECT_EQ(listed(), 2u);  // the init and the hidden one
    std::vector<std::string> hidden_groups;
    for (const auto& h : std::filesystem::directory_iterator("/sys/fs/cgroup"))
        if (std::filesystem::exists(h.path() / "caisson/hider/.hide")) hidden_groups.push_back((h.path() / "caisson/hider").string());
    EXPECT_FALSE(hidden_groups.empty());
    // SIGTERM reaches the hidden one; the init, pid 1 of its namespace, has no handler for it.
    EXPECT_EQ(b.oci("kill", {"--all"}, "hider").status, 0);
    size_t left = 2;
    for (int i = 0; i < 200 && left != 1; ++i) left = listed();
    EXPECT_EQ(left, 1u) << "kill --all missed the process in the group beneath";
    EXPECT_EQ(b.oci("delete", {"--force"}, "hider").status, 0);
    for (const auto& g : hidden_groups) EXPECT_FALSE(std::filesystem::exists(g)) << g << " outlived the container";
}

// What `exec` and `ps` take from their caller or the container: a uid of 2^32 was made 0 by a
// narrowing cast (root instead of an error); a caller's stdout that is a file of the host's
// was handed to the exec'd process's user (it could open it again and read it); and `ps`
// printed the container's command lines raw, escape sequences for the operator's terminal.
TEST(OciEscape, ExecAndPsTakeNothingTheyShouldNot) {
    Bundle b;
    // The shell stays (`; :`), its command line holding a title and a screen clear.
    b.config["process"]["args"] = {"/bin/sh", "-c", "/bin/sleep 120; :", "\033]0;owned\007\033[2J"};
    b.config["linux"]["resources"] = {{"pids", {{"limit", 64}}}};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "take").status, 0);
    RunResult wrapped = b.oci("exec", {"--user", "4294967296:0", "take", "/bin/id", "-u"}, "");
    EXPECT_NE(wrapped.status, 0) << wrapped.out;
    EXPECT_NE(wrapped.err.find("exec --user"), std::string::npos) << wrapped.err;

    const std::string log = b.path() + "/host.log";
    std::ofstream(log) << "";
    ASSERT_EQ(::chmod(log.c_str(), 0600), 0);
    RunOptions o;
    o.wrapper = {"/bin/sh", "-c", "exec \"$@\" > " + log, "sh"};
    RunResult e = b.oci("exec", {"--user", "1000", "take", "/bin/id", "-u"}, "", o);
    EXPECT_EQ(e.status, 0) << e.err;
    struct stat st{};
    ASSERT_EQ(::stat(log.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u) << "the caller's file became the container user's";
    EXPECT_EQ(read_file(log), "1000\n");

    RunResult ps = b.oci("ps", {}, "take");
    ASSERT_EQ(ps.status, 0) << ps.err;
    EXPECT_EQ(ps.out.find('\033'), std::string::npos) << "a raw escape sequence in ps";
    EXPECT_NE(ps.out.find("\\x1b"), std::string::npos) << ps.out;
    b.oci("delete", {"--force"}, "take");
}

TEST(OciEscape, AWorkingDirectoryThroughAHostDescriptorStaysInsideTheRoot) {
    Bundle b;
    int leak = ::open("/", O_RDONLY | O_DIRECTORY);  // inheritable: the runtime's caller left it open
    RunOptions o;
    o.extra_fds = {{7, leak}};
    b.config["linux"]["resources"] = {{"pids", {{"limit", 64}}}};
    for (const auto& cwd : hostile_cwds()) {
        b.config["process"]["cwd"] = cwd;
        b.config["process"]["args"] = {"/probe"};
        expect_inside_or_refused(b.oci("run", {"--bundle", b.path()}, "wd", o), cwd);
        run_oci({"--root", b.root(), "delete", "--force", "wd"});
    }
    ::close(leak);
}

TEST(OciEscape, ExecWithAWorkingDirectoryThroughAHostDescriptorStaysInsideTheRoot) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    b.config["linux"]["resources"] = {{"pids", {{"limit", 64}}}};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "busy-cwd").status, 0);
    int leak = ::open("/", O_RDONLY | O_DIRECTORY);
    RunOptions o;
    o.extra_fds = {{7, leak}};
    for (const auto& cwd : hostile_cwds())
        expect_inside_or_refused(b.oci("exec", {"--cwd", cwd, "busy-cwd", "/probe"}, "", o), cwd);
    ::close(leak);
    // This process is the runtime's caller and a subreaper, as containerd's shim is; the shim
    // reaps what is given to it, and so must we before the delete: an unreaped zombie of the
    // container's pid namespace holds its init's exit, and the delete waited on it for 10 s
    // (1 run in 6 here; 0 in 16 with this).
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    b.oci("delete", {"--force"}, "busy-cwd");
}

// --preserve-fds N hands the caller's 3 .. 3+N-1 in: a number the caller did not open is
// refused before the runtime opens anything of its own there (its cgroup directory would
// have been the container's way out), and never hangs.
// The caller's own streams too: a directory as stdin would be the host's root in the
// container's hands (fchdir(0)), whatever the caller meant by it.
TEST(OciEscape, ADirectoryAsTheCallersStreamIsRefused) {
    Bundle b;
    RunOptions o;
    o.stdin_fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(o.stdin_fd, 0);
    b.config["process"]["args"] = {"/probe"};
    RunResult r = b.oci("run", {"--bundle", b.path()}, "dirstdin", o);
    ::close(o.stdin_fd);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("descriptor 0 is a directory, a way out of the sandbox's root"), std::string::npos) << r.err;
}

TEST(OciEscape, PreservedDescriptorsTheCallerDidNotOpenAreRefused) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    b.config["linux"]["resources"] = {{"pids", {{"limit", 64}}}};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "busy-fds").status, 0);
    // Every spelling the flag parser takes (runc's Go flags take one dash too), and with a log
    // file that the runtime opens before it reads the command's flags.
    TempDir logs;
    for (std::vector<std::string> flags : {std::vector<std::string>{"--preserve-fds", "1"}, {"-preserve-fds", "1"},
                                          {"-preserve-fds=1"}, {"--preserve-fds=1"}}) {
        flags.insert(flags.end(), {"busy-fds", "/probe"});
        RunResult e = b.oci("exec", flags, "");
        EXPECT_NE(e.status, 0) << flags[0];
        EXPECT_NE(e.err.find("descriptor 3 is not open in the caller"), std::string::npos) << flags[0] << ": " << e.err;
        EXPECT_TRUE(e.probe.is_null()) << flags[0] << ": the process ran: " << e.out;
    }
    RunResult logged = run_oci({"--root", b.root(), "--log", logs.path() + "/log", "--debug", "exec", "-preserve-fds", "1", "busy-fds", "/probe"});
    EXPECT_NE(logged.status, 0);
    EXPECT_NE(logged.err.find("descriptor 3 is not open in the caller"), std::string::npos) << logged.err;
    EXPECT_TRUE(logged.probe.is_null()) << "the process ran: " << logged.out;
    b.config["process"]["args"] = {"/probe"};
    for (const char* flag : {"--preserve-fds", "-preserve-fds"}) {
        RunResult r = b.oci("run", {"--bundle", b.path(), flag, "2"}, "pf");
        EXPECT_NE(r.status, 0) << flag;
        EXPECT_NE(r.err.find("descriptor 3 is not open in the caller"), std::string::npos) << flag << ": " << r.err;
        EXPECT_TRUE(r.probe.is_null()) << flag << ": the process ran: " << r.out;
    }
    RunResult wrapped = b.oci("exec", {"--preserve-fds", "4294967297", "busy-fds", "/probe"}, "");
    EXPECT_NE(wrapped.status, 0);
    EXPECT_NE(wrapped.err.find("out of range"), std::string::npos) << "a count that wraps to 1: " << wrapped.err;
    b.oci("delete", {"--force"}, "busy-fds");
}

TEST(OciCli, VersionFeaturesSpecAndJsonLog) {
    RunResult v = run_oci({"--version"});
    EXPECT_EQ(v.out.substr(0, v.out.find('\n')).rfind("caisson-oci version ", 0), 0u);
    EXPECT_NE(v.out.find("\nspec: 1.2."), std::string::npos);
    json f = json::parse(run_oci({"features"}).out);
    EXPECT_EQ(f["ociVersionMax"], "1.2.0");
    EXPECT_EQ(f["linux"]["seccomp"]["enabled"], true);
    TempDir d;
    std::string log = d.path() + "/log.json";
    RunResult e = run_oci({"--log", log, "--log-format", "json", "--root", d.path(), "state", "nothere"});
    EXPECT_NE(e.status, 0);
    json line = json::parse(read_file(log));
    EXPECT_EQ(line["level"], "error");
    EXPECT_EQ(line["msg"], "container nothere does not exist");
    EXPECT_TRUE(line.contains("time"));
    RunResult again = run_oci({"spec", "--bundle", d.path()});
    ASSERT_EQ(again.status, 0);
    RunResult twice = run_oci({"spec", "--bundle", d.path()});
    EXPECT_NE(twice.status, 0);
}

}  // namespace
}  // namespace caisson::test
