// The runtime-spec's MUSTs that the other files do not reach, one test each, as
// docs/oci-conformance.md lists them: observed from inside the container (busybox's sh) or
// on the host, never assumed.
#include "oci_bundle.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace caisson::test {
namespace {

using nlohmann::json;

bool exists(const std::string& p) {
    struct stat st{};
    return ::lstat(p.c_str(), &st) == 0;
}

std::string own_link(const std::string& what) {
    std::error_code ec;
    return std::filesystem::read_symlink("/proc/self/" + what, ec).string();
}

// `run` of a shell command in the container: its stdout (the status in *status, else 0 expected).
std::string sh(Bundle& b, const std::string& cmd, const std::string& id, int* status = nullptr) {
    b.config["process"]["args"] = {"/bin/sh", "-c", cmd};
    RunResult r = b.oci("run", {"--bundle", b.path()}, id);
    if (status) *status = r.status;
    else EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
}

// A host directory the container writes into, at /out.
std::string mount_out(Bundle& b, const TempDir& out) {
    b.config["mounts"].push_back({{"destination", "/out"}, {"type", "bind"}, {"source", out.path()}, {"options", {"rbind", "rw"}}});
    return out.path();
}

// The propagation of the mount at `target` in a mountinfo text: "shared", "master",
// "unbindable" or "private" (no optional field).
std::string propagation(const std::string& mountinfo, const std::string& target) {
    std::istringstream in(mountinfo);
    std::string line, found = "absent";
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string id, parent, dev, root, mp, opts, tok;
        f >> id >> parent >> dev >> root >> mp >> opts;
        if (mp != target) continue;
        found = "private";
        while (f >> tok && tok != "-") {
            if (tok.rfind("shared:", 0) == 0) found = "shared";
            else if (tok.rfind("master:", 0) == 0) found = "master";
            else if (tok == "unbindable") found = "unbindable";
        }
    }
    return found;
}

// runtime.md, lifecycle 2: the container is what config.json said at create; editing the
// file afterwards changes neither the program start runs nor the hooks delete runs.
TEST(OciSpec, EditingConfigJsonAfterCreateChangesNothing) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("create", {"--bundle", b.path()}, "edit").status, 0);
    std::string mark = b.path() + "/poststop-ran";
    json edited = b.config;
    edited["process"]["args"] = {"/bin/sh", "-c", "exit 3"};
    edited["hooks"] = {{"poststop", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "touch " + mark}}}}}};
    std::ofstream(b.path() + "/config.json") << edited.dump();
    ASSERT_EQ(run_oci({"--root", b.root(), "start", "edit"}).status, 0);
    RunResult cmdline = run_oci({"--root", b.root(), "exec", "edit", "/bin/cat", "/proc/1/cmdline"});
    ASSERT_EQ(cmdline.status, 0) << cmdline.err;
    EXPECT_EQ(cmdline.out, std::string("/bin/sleep\0" "60\0", 14)) << "the program of create's config.json";
    ASSERT_EQ(run_oci({"--root", b.root(), "delete", "--force", "edit"}).status, 0);
    EXPECT_FALSE(exists(mark)) << "a hook added after create ran";
}

// runtime.md, operations: each one that takes an id fails without it, saying so, and makes nothing.
TEST(OciSpec, AnOperationWithoutAnIdIsAnError) {
    Bundle b;
    b.save();
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
             {"state"}, {"start"}, {"kill"}, {"delete"}, {"create", "--bundle", b.path()}}) {
        std::vector<std::string> all{"--root", b.root()};
        all.insert(all.end(), args.begin(), args.end());
        RunResult r = run_oci(all);
        EXPECT_NE(r.status, 0) << args[0];
        EXPECT_NE(r.err.find("id"), std::string::npos) << args[0] << ": " << r.err;
    }
    EXPECT_TRUE(!exists(b.root()) || std::filesystem::is_empty(b.root()));
}

// runtime.md, start: "process" is required; caisson-oci refuses its absence already at
// create, before anything exists.
TEST(OciSpec, AConfigWithoutProcessIsRefusedBeforeAnythingIsMade) {
    Bundle b;
    b.config.erase("process");
    RunResult r = b.oci("create", {"--bundle", b.path()}, "noproc");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("process"), std::string::npos) << r.err;
    EXPECT_FALSE(exists(b.root() + "/noproc"));
}

// runtime.md, delete: what the container did not create survives it: a bind mount's source
// and a network namespace joined by path.
TEST(OciSpec, DeleteLeavesWhatTheContainerDidNotCreate) {
    Bundle b;
    TempDir host;
    std::ofstream(host.path() + "/kept") << "k";
    std::string netns = host.path() + "/netns";
    std::ofstream(netns).close();
    ASSERT_EQ(std::system(("unshare --net=" + netns + " true").c_str()), 0);
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{netns};
    b.config["mounts"].push_back({{"destination", "/data"}, {"type", "bind"}, {"source", host.path()}, {"options", {"rbind", "rw"}}});
    for (auto& n : b.config["linux"]["namespaces"])
        if (n["type"] == "network") n["path"] = netns;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "keeps").status, 0);
    ASSERT_EQ(b.oci("delete", {"--force"}, "keeps").status, 0);
    EXPECT_EQ(read_file(host.path() + "/kept"), "k");
    struct statfs fs{};
    ASSERT_EQ(::statfs(netns.c_str(), &fs), 0);
    EXPECT_EQ(fs.f_type, static_cast<decltype(fs.f_type)>(NSFS_MAGIC)) << "the joined namespace is still bound at its path";
}

// config.md, hooks: a hook's path is absolute.
TEST(OciSpec, ARelativeHookPathIsRefused) {
    Bundle b;
    b.config["hooks"] = {{"prestart", {{{"path", "bin/true"}}}}};
    RunResult r = b.oci("create", {"--bundle", b.path()}, "relhook");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("hooks.prestart[0].path"), std::string::npos) << r.err;
    EXPECT_FALSE(exists(b.root() + "/relhook"));
}

// config.md, prestart: during create, in the runtime's namespaces, before createRuntime.
TEST(OciSpec, PrestartRunsInTheRuntimesNamespacesBeforeCreateRuntime) {
    Bundle b;
    std::string log = b.path() + "/hooks.log";
    b.config["hooks"] = {
        {"prestart", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo prestart $(readlink /proc/self/ns/mnt) $(readlink /proc/self/ns/net) >> " + log}}}}},
        {"createRuntime", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo createRuntime >> " + log}}}}}};
    RunResult r = b.run({}, "prestart");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(read_file(log), "prestart " + own_link("ns/mnt") + " " + own_link("ns/net") + "\ncreateRuntime\n");
}

// config.md, startContainer: during start, before the program, in the container's
// namespaces, its path resolved in the container (this one exists only there).
TEST(OciSpec, StartContainerRunsInTheContainerWithItsPathResolvedThere) {
    Bundle b;
    TempDir out;
    mount_out(b, out);
    std::filesystem::create_directory(b.rootfs() + "/only-in-container");
    std::filesystem::copy_file(BUSYBOX, b.rootfs() + "/only-in-container/bb");
    b.config["hostname"] = "inside";
    b.config["hooks"] = {{"startContainer",
                          {{{"path", "/only-in-container/bb"},
                            {"args", {"sh", "-c", "hostname > /out/host; readlink /proc/self/ns/uts > /out/uts"}}}}}};
    std::string got = sh(b, "cat /out/host; [ \"$(readlink /proc/self/ns/uts)\" = \"$(cat /out/uts)\" ] && echo same-uts", "startc");
    EXPECT_EQ(got, "inside\nsame-uts\n") << "the hook ran before the program, in its namespaces";
}

// config.md, hooks: a hook's env is its whole environment; a timeout of zero is refused.
TEST(OciSpec, AHooksEnvIsItsEnvironmentAndAZeroTimeoutIsRefused) {
    Bundle b;
    std::string log = b.path() + "/env.log";
    b.config["hooks"] = {{"poststart", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "tr '\\0' '\\n' < /proc/$$/environ > " + log}}, {"env", {"FOO=bar"}}}}}};
    ASSERT_EQ(b.run({}, "hookenv").status, 0);
    EXPECT_EQ(read_file(log), "FOO=bar\n") << "FOO only, nothing of the runtime's";
    b.config["hooks"] = {{"prestart", {{{"path", "/bin/true"}, {"timeout", 0}}}}};
    RunResult r = b.run({}, "zero");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("timeout"), std::string::npos) << r.err;
    EXPECT_FALSE(exists(b.root() + "/zero"));
}

// config.md: root.path must exist, and process.cwd is absolute; each refused naming it.
TEST(OciSpec, AMissingRootOrARelativeCwdIsRefusedNamingIt) {
    Bundle b;
    b.config["root"]["path"] = "no-such-rootfs";
    RunResult root = b.run({}, "noroot");
    EXPECT_EQ(root.status, 1);
    EXPECT_NE(root.err.find("root.path"), std::string::npos) << root.err;
    b.config["root"]["path"] = "rootfs";
    b.config["process"]["cwd"] = "tmp";
    b.config["process"]["args"] = {"/probe"};
    RunResult cwd = b.oci("run", {"--bundle", b.path()}, "relcwd");
    EXPECT_EQ(cwd.status, 1);
    EXPECT_NE(cwd.err.find("process.cwd"), std::string::npos) << cwd.err;
    for (const char* id : {"noroot", "relcwd"}) EXPECT_FALSE(exists(b.root() + "/" + id));
}

// config.md, process.consoleSize: ignored without a terminal.
TEST(OciSpec, AConsoleSizeWithoutATerminalIsIgnored) {
    Bundle b;
    b.config["process"]["consoleSize"] = {{"height", 10}, {"width", 20}};
    RunResult r = b.run({}, "nosize");
    EXPECT_EQ(r.status, 0) << r.err;
}

// config-linux.md, namespaces: a uts and an ipc namespace given by path are the ones joined.
TEST(OciSpec, UtsAndIpcNamespacesAreJoinedByPath) {
    Bundle b;
    TempDir host;
    std::string uts = host.path() + "/uts", ipc = host.path() + "/ipc";
    std::ofstream(uts).close();
    std::ofstream(ipc).close();
    ASSERT_EQ(std::system(("unshare --uts=" + uts + " hostname joined-uts").c_str()), 0);
    ASSERT_EQ(std::system(("unshare --ipc=" + ipc + " true").c_str()), 0);
    struct Unmount {
        std::vector<std::string> paths;
        ~Unmount() {
            for (const auto& p : paths) ::umount2(p.c_str(), MNT_DETACH);
        }
    } unmount{{uts, ipc}};
    for (auto& n : b.config["linux"]["namespaces"]) {
        if (n["type"] == "uts") n["path"] = uts;
        if (n["type"] == "ipc") n["path"] = ipc;
    }
    b.config.erase("hostname");  // a joined uts namespace keeps its own
    struct stat st{};
    ASSERT_EQ(::stat(ipc.c_str(), &st), 0);
    EXPECT_EQ(sh(b, "hostname; readlink /proc/self/ns/ipc", "joinuts"),
              "joined-uts\nipc:[" + std::to_string(st.st_ino) + "]\n");
}

// config.md, ociVersion: a version this runtime handles (1.x), else an error naming it.
TEST(OciSpec, AnOciVersionThisRuntimeDoesNotHandleIsRefused) {
    Bundle b;
    b.config["ociVersion"] = "2.0.0";
    RunResult r = b.run({}, "v2");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("ociVersion"), std::string::npos) << r.err;
    EXPECT_FALSE(exists(b.root() + "/v2"));
    b.config["ociVersion"] = "1.0.2-dev";
    EXPECT_EQ(b.run({}, "v1").status, 0) << "a 1.x pre-release is handled";
}

// config.md, mounts: a relative destination (deprecated) is refused: a departure, named.
TEST(OciSpec, ARelativeMountDestinationIsRefusedNamingIt) {
    Bundle b;
    b.config["mounts"].push_back({{"destination", "data"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
    RunResult r = b.run({}, "reldest");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("destination"), std::string::npos) << r.err;
    EXPECT_FALSE(exists(b.root() + "/reldest"));
}

// config.md, mounts: the propagation options reach the mount (slave of a mount without
// peers is private again, so it has nothing to show).
TEST(OciSpec, PropagationOptionsReachTheMount) {
    Bundle b;
    for (const char* p : {"private", "shared", "unbindable", "rshared"})
        b.config["mounts"].push_back({{"destination", std::string("/m-") + p}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {p}}});
    std::string info = sh(b, "cat /proc/self/mountinfo", "prop");
    EXPECT_EQ(propagation(info, "/m-private"), "private") << info;
    EXPECT_EQ(propagation(info, "/m-shared"), "shared") << info;
    EXPECT_EQ(propagation(info, "/m-rshared"), "shared") << info;
    EXPECT_EQ(propagation(info, "/m-unbindable"), "unbindable") << info;
}

// config.md, rootfsPropagation: set on the container's root mount.
TEST(OciSpec, RootfsPropagationIsTheRootsPropagation) {
    Bundle b;
    b.config["linux"]["rootfsPropagation"] = "shared";
    std::string shared = sh(b, "cat /proc/self/mountinfo", "rshared");
    EXPECT_EQ(propagation(shared, "/"), "shared") << shared;
    b.config["linux"]["rootfsPropagation"] = "private";
    std::string priv = sh(b, "cat /proc/self/mountinfo", "rprivate");
    EXPECT_EQ(propagation(priv, "/"), "private") << priv;
}

// config.md, process.oomScoreAdj: applied when given, and the runtime's own is left alone
// when absent (here 77, set on caisson-oci before it starts).
TEST(OciSpec, OomScoreAdjIsAppliedOrLeftAlone) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/cat", "/proc/self/oom_score_adj"};
    RunOptions from77;
    from77.wrapper = {"/bin/sh", "-c", "echo 77 > /proc/self/oom_score_adj && exec \"$@\"", "sh"};
    RunResult absent = b.oci("run", {"--bundle", b.path()}, "oom-absent", from77);
    ASSERT_EQ(absent.status, 0) << absent.err;
    EXPECT_EQ(absent.out, "77\n");
    b.config["process"]["oomScoreAdj"] = 321;
    RunResult given = b.oci("run", {"--bundle", b.path()}, "oom-given", from77);
    ASSERT_EQ(given.status, 0) << given.err;
    EXPECT_EQ(given.out, "321\n");
}

// The same for a process exec'd into the container (runc: the --process file's own, or the
// container's), not the score of whoever called the runtime.
TEST(OciSpec, AnExecdProcessTakesTheContainersOomScoreAdj) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    b.config["process"]["oomScoreAdj"] = 321;
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "oom-exec").status, 0);
    RunOptions from77;
    from77.wrapper = {"/bin/sh", "-c", "echo 77 > /proc/self/oom_score_adj && exec \"$@\"", "sh"};
    RunResult e = b.oci("exec", {"oom-exec", "/bin/cat", "/proc/self/oom_score_adj"}, "", from77);
    ASSERT_EQ(e.status, 0) << e.err;
    EXPECT_EQ(e.out, "321\n");
    EXPECT_EQ(b.oci("delete", {"--force"}, "oom-exec").status, 0);
}

// config.md, process.ioPriority: its class and priority.
TEST(OciSpec, IoPriorityIsApplied) {
    Bundle b;
    b.config["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_BE"}, {"priority", 6}};
    EXPECT_EQ(sh(b, "/bin/busybox ionice -p $$", "ioprio"), "best-effort: prio 6\n");
    b.config["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_IDLE"}, {"priority", 0}};
    EXPECT_EQ(sh(b, "/bin/busybox ionice -p $$", "ioidle"), "idle\n");
}

bool apparmor_enabled() {
    std::ifstream in("/sys/module/apparmor/parameters/enabled");
    std::string v;
    return in >> v && v == "Y";
}

// config.md: SELinux labels are refused, naming the field (a departure: this runtime applies
// no SELinux label, and never pretends to); so is an AppArmor profile where the kernel does not
// run AppArmor (this host).
TEST(OciSpec, LsmLabelsAreRefusedNamingTheField) {
    for (const auto& [where, field] : std::vector<std::pair<std::string, std::string>>{
             {"process", "apparmorProfile"}, {"process", "selinuxLabel"}, {"linux", "mountLabel"}}) {
        if (field == "apparmorProfile" && apparmor_enabled()) continue;  // applied: the next test
        Bundle b;
        b.config[where][field] = "label";
        RunResult r = b.run({}, "lsm");
        EXPECT_EQ(r.status, 1) << field;
        EXPECT_NE(r.err.find(field), std::string::npos) << r.err;
        EXPECT_FALSE(exists(b.root() + "/lsm"));
    }
}

// config.md: process.apparmorProfile is the profile the process runs under, taken at its
// exec, as runc does (what containerd's CRI asks for on AppArmor hosts). Run in the qemu guest
// (guest.oci_apparmor), whose kernel runs AppArmor, with apparmor_parser to load a profile.
TEST(OciSpec, AppArmorProfileIsTakenAtExec) {
    if (!apparmor_enabled()) GTEST_SKIP() << "the kernel does not run AppArmor (the qemu guest does: guest.oci_apparmor)";
    std::string parser;
    for (const char* p : {"/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"})
        if (::access(p, X_OK) == 0) parser = p;
    if (parser.empty()) GTEST_SKIP() << "apparmor_parser is missing (the apparmor package)";
    TempDir d;
    const std::string profile = d.path() + "/caisson-test";
    std::ofstream(profile) << "profile caisson-oci-test flags=(attach_disconnected,mediate_deleted) {\n"
                              "  file, capability, network, signal, unix, ptrace, mount, umount, pivot_root,\n"
                              "  deny /tmp/denied w,\n"
                              "}\n";
    ASSERT_EQ(std::system((parser + " -r -K -q " + profile + " 2>&1").c_str()), 0) << "the profile did not load";
    Bundle b;
    b.config["root"]["readonly"] = false;
    b.config["process"]["apparmorProfile"] = "caisson-oci-test";
    RunResult r = b.run({"--write", "/tmp/denied", "--write", "/tmp/allowed", "--read", "/proc/self/attr/current"}, "aa");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["writes"]["/tmp/denied"], "EACCES") << "the profile's rule holds";
    EXPECT_EQ(r.probe["writes"]["/tmp/allowed"], "ok");
    // A profile the kernel does not have: the start fails, naming it.
    b.config["process"]["apparmorProfile"] = "caisson-no-such-profile";
    RunResult missing = b.run({}, "aa2");
    EXPECT_NE(missing.status, 0);
    EXPECT_NE(missing.err.find("caisson-no-such-profile"), std::string::npos) << missing.err;
    // An exec'd process runs under the container's profile, as runc's: from the command line,
    // and from a process.json that names none (containerd's shim sends one).
    b.config["process"]["apparmorProfile"] = "caisson-oci-test";
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "aa4").status, 0);
    RunResult e = b.oci("exec", {"aa4", "/probe", "--write", "/tmp/denied"}, "");
    EXPECT_EQ(e.probe["writes"]["/tmp/denied"], "EACCES") << e.err;
    const std::string process = d.path() + "/process.json";
    std::ofstream(process) << nlohmann::json{{"args", {"/probe", "--write", "/tmp/denied"}}, {"cwd", "/"},
                                             {"user", {{"uid", 0}, {"gid", 0}}}}.dump();
    RunResult pf = b.oci("exec", {"--process", process, "aa4"}, "");
    EXPECT_EQ(pf.probe["writes"]["/tmp/denied"], "EACCES") << pf.err;
    EXPECT_EQ(b.oci("delete", {"--force"}, "aa4").status, 0);
    b.config["process"]["args"] = {"/probe"};

    // CVE-2019-16884: a volume over /proc with files where AppArmor's attributes are would take
    // the write, and the process would run unconfined. The start fails instead.
    const std::string fake = d.path() + "/fakeproc";
    for (const char* dir : {"/thread-self/attr/apparmor", "/self/attr"}) std::filesystem::create_directories(fake + dir);
    std::ofstream(fake + "/thread-self/attr/apparmor/exec") << "";
    std::ofstream(fake + "/thread-self/attr/exec") << "";
    b.config["process"]["apparmorProfile"] = "caisson-oci-test";
    b.config["mounts"].push_back({{"destination", "/proc"}, {"type", "bind"}, {"source", fake}, {"options", {"rbind"}}});
    RunResult over = b.run({"--write", "/tmp/denied"}, "aa3");
    EXPECT_NE(over.status, 0) << "the process ran with its profile written elsewhere: " << over.out;
    EXPECT_TRUE(over.probe.is_null()) << over.out;
    (void)std::system((parser + " -R " + profile + " 2>&1").c_str());
}

// config.md, extensibility: unknown properties are ignored, wherever they are.
TEST(OciSpec, UnknownPropertiesAreIgnored) {
    Bundle b;
    b.config["org.example.top"] = {{"any", "thing"}};
    b.config["process"]["org.example.process"] = 1;
    b.config["linux"]["org.example.linux"] = {1, 2};
    b.config["mounts"][0]["org.example.mount"] = true;
    RunResult r = b.run({}, "unknown");
    EXPECT_EQ(r.status, 0) << r.err;
}

// config-linux.md, devices: the node's type and numbers, its mode and its owner.
TEST(OciSpec, ADevicesModeAndOwnerAreApplied) {
    Bundle b;
    b.config["linux"]["devices"] = {{{"path", "/dev/extra-null"}, {"type", "c"}, {"major", 1}, {"minor", 3},
                                     {"fileMode", 0620}, {"uid", 5}, {"gid", 6}}};
    EXPECT_EQ(sh(b, "stat -c '%a %u %g %t:%T %F' /dev/extra-null", "devnode"), "620 5 6 1:3 character special file\n");
}

// config-linux.md, devices: a different file already at the path is an error in the spec;
// caisson-oci replaces it (a departure, as runc and crun do: an image's stale node or
// placeholder must not keep the container from starting).
TEST(OciSpec, ADeviceReplacesAFileAtItsPath) {
    Bundle b;
    std::filesystem::create_directory(b.rootfs() + "/opt");
    std::ofstream(b.rootfs() + "/opt/node") << "a file";
    b.config["linux"]["devices"] = {{{"path", "/opt/node"}, {"type", "c"}, {"major", 1}, {"minor", 3}}};
    EXPECT_EQ(sh(b, "stat -c '%F %t:%T' /opt/node", "devrepl"), "character special file 1:3\n");
}

// config-linux.md, resources: hugepage limits are written (the v2 hierarchy here has
// hugetlb); a controller this host lacks is an error naming the field, never dropped.
TEST(OciSpec, ResourcesAreWrittenOrRefusedNamingTheField) {
    Bundle b;
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    std::string hugetlb;
    for (const char* at : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup/hugetlb", "/sys/fs/cgroup"}) {
        std::string controllers = exists(std::string(at) + "/cgroup.controllers") ? read_file(std::string(at) + "/cgroup.controllers") : "";
        if (exists(std::string(at) + "/hugetlb.2MB.max") || controllers.find("hugetlb") != std::string::npos ||
            exists(std::string(at) + "/hugetlb.2MB.limit_in_bytes")) {
            hugetlb = at;
            break;
        }
    }
    if (!hugetlb.empty() && exists("/sys/kernel/mm/hugepages/hugepages-2048kB")) {
        b.config["linux"]["resources"] = {{"hugepageLimits", {{{"pageSize", "2MB"}, {"limit", 4194304}}}}};
        ASSERT_EQ(b.oci("create", {"--bundle", b.path()}, "huge").status, 0);
        std::string dir = hugetlb + "/caisson/huge/";
        std::string file = exists(dir + "hugetlb.2MB.max") ? dir + "hugetlb.2MB.max" : dir + "hugetlb.2MB.limit_in_bytes";
        EXPECT_EQ(read_file(file), "4194304\n") << file;
        ASSERT_EQ(b.oci("delete", {"--force"}, "huge").status, 0);
    }
    for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
             {"network", {{"classID", 7}}}, {"rdma", {{"mlx", {{"hcaHandles", 1}}}}}, {"unified", {{"memory.max", "100M"}}}}) {
        std::string controller = field == "network" ? "net_cls" : field == "unified" ? "memory" : field;
        // Where the host has it, the other tests write it; here only its absence is checked.
        if (exists("/sys/fs/cgroup/" + controller) && field != "unified") continue;
        b.config["linux"]["resources"] = {{field, value}};
        RunResult r = b.oci("create", {"--bundle", b.path()}, "res");
        if (field == "unified" && r.status == 0) {  // a host with cgroup v2 controllers takes it
            ASSERT_EQ(b.oci("delete", {"--force"}, "res").status, 0);
            continue;
        }
        EXPECT_EQ(r.status, 1) << field;
        EXPECT_NE(r.err.find("linux.resources." + field), std::string::npos) << r.err;
        EXPECT_FALSE(exists(b.root() + "/res"));
    }
}

// config-linux.md, seccomp: with SCMP_ACT_NOTIFY, the state and the listener go to
// listenerPath (runc's message: fds, pid, metadata, state); a socket that cannot be reached
// fails create and leaves nothing.
TEST(OciSpec, TheSeccompListenerGoesToListenerPath) {
    Bundle b;
    TempDir agent_dir;
    std::string sock_path = agent_dir.path() + "/agent.sock";
    int agent = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(agent, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path.c_str());
    ASSERT_EQ(::bind(agent, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(agent, 1), 0);
    b.config["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                    {"architectures", {"SCMP_ARCH_X86_64"}},
                                    {"listenerPath", sock_path},
                                    {"listenerMetadata", "meta"},
                                    {"syscalls", {{{"names", {"acct"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("create", {"--bundle", b.path()}, "notify").status, 0);
    int conn = ::accept4(agent, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(conn, 0);
    char buf[65536];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    ASSERT_GT(n, 0);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    ASSERT_NE(c, nullptr);
    int listener;
    std::memcpy(&listener, CMSG_DATA(c), sizeof(int));
    EXPECT_EQ(own_link("fd/" + std::to_string(listener)), "anon_inode:seccomp notify");
    json m = json::parse(std::string(buf, static_cast<size_t>(n)));
    EXPECT_EQ(m["fds"], json({"seccompFd"}));
    EXPECT_EQ(m["metadata"], "meta");
    EXPECT_EQ(m["state"]["id"], "notify");
    EXPECT_GT(m["pid"].get<int>(), 0);
    ::close(listener);
    ::close(conn);
    ::close(agent);
    ASSERT_EQ(b.oci("delete", {"--force"}, "notify").status, 0);

    b.config["linux"]["seccomp"]["listenerPath"] = agent_dir.path() + "/nobody-listens.sock";
    RunResult r = b.oci("create", {"--bundle", b.path()}, "noagent");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("seccomp agent"), std::string::npos) << r.err;
    EXPECT_FALSE(exists(b.root() + "/noagent"));
}

}  // namespace
}  // namespace caisson::test
