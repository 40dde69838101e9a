// caisson's own protections in an OCI container, asked for by annotations (oci/annotations):
// each one observed from inside with the probe, against the same container without it.
#include "netns.hpp"
#include "oci_bundle.hpp"

#include <linux/landlock.h>
#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/statfs.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace caisson::test {
namespace {

using nlohmann::json;

// The kernel's Landlock ABI, as caisson asks for it; 0 without Landlock.
int landlock_abi() {
    long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : static_cast<int>(v);
}

TEST(OciAnnotations, LandlockKeysConfineTheProcessAndItsExecs) {
    if (landlock_abi() < 1) GTEST_SKIP() << "this kernel has no Landlock";
    Bundle b;
    std::ofstream(b.rootfs() + "/etc/secret") << "s";
    RunResult plain = b.run({"--read", "/etc/secret"});
    ASSERT_EQ(plain.status, 0) << plain.err;
    ASSERT_EQ(plain.probe["reads"]["/etc/secret"], "data");

    b.config["root"]["readonly"] = false;
    b.config["annotations"] = {{"org.caisson.landlock-rx", "/probe,/bin"}, {"org.caisson.landlock-ro", "/proc"},
                               {"org.caisson.landlock-rw", "/tmp"}};
    RunResult r = b.run({"--read", "/etc/secret", "--read", "/probe", "--write", "/tmp/x", "--write", "/etc/x"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"]["/etc/secret"], "EACCES");
    EXPECT_EQ(r.probe["reads"]["/probe"], "data");
    EXPECT_EQ(r.probe["writes"]["/tmp/x"], "ok");
    EXPECT_EQ(r.probe["writes"]["/etc/x"], "EACCES");
    EXPECT_EQ(r.probe["status"]["NoNewPrivs"], "1") << "Landlock comes with no_new_privs";

    // A process exec'd into the container later is held the same way.
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "ll").status, 0);
    RunResult e = b.oci("exec", {"ll", "/probe", "--read", "/etc/secret"}, "");
    ASSERT_EQ(e.status, 0) << e.err;
    EXPECT_EQ(e.probe["reads"]["/etc/secret"], "EACCES");
    EXPECT_EQ(b.oci("delete", {"--force"}, "ll").status, 0);
}

TEST(OciAnnotations, CaissonsSeccompPolicyIsStackedOnTheConfigsFilter) {
    Bundle b;
    // io_uring_setup(1, NULL): EFAULT where it is allowed; caisson's default denies it.
    RunResult plain = b.run({"--call", "425,1,0"});
    ASSERT_EQ(plain.status, 0) << plain.err;
    ASSERT_EQ(plain.probe["calls"]["425,1,0"], "EFAULT");
    b.config["annotations"] = {{"org.caisson.seccomp", "default"}};
    RunResult r = b.run({"--call", "425,1,0"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["calls"]["425,1,0"], "EPERM");
    EXPECT_EQ(r.probe["status"]["Seccomp"], "2");
}

TEST(OciAnnotations, AProfileByNameFromTheAdminsDirectory) {
    if (landlock_abi() < 1) GTEST_SKIP() << "this kernel has no Landlock";
    Bundle b;
    TempDir profiles;
    std::ofstream(profiles.path() + "/confined.toml") << "landlock-rx = [\"/probe\"]\n";
    std::ofstream(profiles.path() + "/shaped.toml") << "hostname = \"other\"\nlandlock-rx = [\"/probe\"]\n";
    std::ofstream(b.rootfs() + "/etc/secret") << "s";
    RunOptions env;
    env.env = {"CAISSON_PROFILE_PATH=" + profiles.path()};
    b.config["process"]["args"] = {"/probe", "--read", "/etc/secret"};
    b.config["annotations"] = {{"org.caisson.profile", "confined"}};
    RunResult r = b.oci("run", {"--bundle", b.path()}, "prof", env);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"]["/etc/secret"], "EACCES");

    // What caisson-oci would not apply is refused, naming it; a name is never a path.
    b.config["annotations"] = {{"org.caisson.profile", "shaped"}};
    RunResult shaped = b.oci("run", {"--bundle", b.path()}, "shaped", env);
    EXPECT_NE(shaped.status, 0);
    EXPECT_NE(shaped.err.find("they set hostname"), std::string::npos) << shaped.err;
    // The admin's profile is a floor: no key of the pod's mixes with it.
    b.config["annotations"] = {{"org.caisson.profile", "confined"}, {"org.caisson.landlock-rw", "/"}};
    RunResult mixed = b.oci("run", {"--bundle", b.path()}, "mixed", env);
    EXPECT_NE(mixed.status, 0);
    EXPECT_NE(mixed.err.find("not with org.caisson.profile"), std::string::npos) << mixed.err;
    b.config["annotations"] = {{"org.caisson.profile", "../confined"}};
    RunResult path = b.oci("run", {"--bundle", b.path()}, "path", env);
    EXPECT_NE(path.status, 0);
    EXPECT_NE(path.err.find("is not a name"), std::string::npos) << path.err;
}

// Whether a cgroup2 hierarchy is mounted where caisson-oci looks for one.
bool cgroup2_mounted() {
    struct statfs fs{};
    for (const char* at : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
        if (::statfs(at, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) return true;
    return false;
}

TEST(OciAnnotations, EgressRulesHoldInTheContainersCgroup) {
    if (!cgroup2_mounted()) GTEST_SKIP() << "the egress filter needs a cgroup2 hierarchy (none mounted here)";
    if (landlock_abi() < 4) GTEST_SKIP() << "the test tells the two layers apart by Landlock's TCP rules (ABI 4)";
    Bundle b;
    RunResult plain = b.run({"--connect", "9"});
    ASSERT_EQ(plain.status, 0) << plain.err;
    ASSERT_EQ(plain.probe["connects"]["9"], "ECONNREFUSED") << "loopback answers: the port is closed";
    // Port 9 elsewhere only: Landlock's connect rule (ports alone) lets port 9 through, the
    // cgroup's egress filter (addresses and ports) refuses loopback: EPERM is its answer.
    b.config["annotations"] = {{"org.caisson.allow-connect", "10.0.0.0/8:9"}};
    RunResult r = b.run({"--connect", "9", "--connect", "10"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["connects"]["9"], "EPERM");
    EXPECT_EQ(r.probe["connects"]["10"], "EACCES") << "and Landlock's rule holds the other ports";
}

// deny-private keeps out the addresses of the host's and of a joined network namespace (a
// pod's, set up before create), not only loopback and the private ranges: a service bound to
// every address answers at a public one too.
TEST(OciAnnotations, DenyPrivateKeepsOutAJoinedNamespacesOwnAddresses) {
    if (!cgroup2_mounted()) GTEST_SKIP() << "the egress filter needs a cgroup2 hierarchy (none mounted here)";
    NetnsHolder pod([] {
        return std::system("ip link set lo up && ip link add cstest-a type veth peer name cstest-b "
                           "&& ip addr add 203.0.113.7/24 dev cstest-a && ip link set cstest-b up && ip link set cstest-a up") == 0;
    });
    Bundle b;
    for (auto& n : b.config["linux"]["namespaces"])
        if (n["type"] == "network") n["path"] = pod.path();
    b.config["annotations"] = {{"org.caisson.deny-private", "true"}};
    RunResult r = b.run({"--dial", "udp:203.0.113.7:9", "--dial", "udp:203.0.113.8:9"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["dials"]["udp:203.0.113.7:9"], "EPERM") << "the namespace's own address";
    EXPECT_EQ(r.probe["dials"]["udp:203.0.113.8:9"], "ok") << "another machine on its link";
}

// [[supervise]] rules need someone awake beside the container: create leaves caisson's
// monitor, which decides every process's supervised calls with one state (one budget for the
// container), kills the container on a kill verdict, and is gone once delete returns.
TEST(OciAnnotations, SupervisedCallsAreDecidedByCaissonsMonitor) {
    Bundle b;
    TempDir profiles;
    std::filesystem::create_directory(profiles.path() + "/seccomp");
    std::ofstream(profiles.path() + "/seccomp/budget.toml")
        << "extends = \"default\"\n[[supervise]]\nsyscall = [\"fork\", \"vfork\", \"clone\", \"clone3\"]\nmax = 3\n"
           "then = \"errno(EAGAIN)\"\n";
    std::ofstream(profiles.path() + "/seccomp/fatal.toml")
        << "extends = \"default\"\n[[supervise]]\nsyscall = [\"fork\", \"vfork\", \"clone\", \"clone3\"]\nmax = 1\n"
           "then = \"kill-process\"\n";
    RunOptions env;
    env.env = {"CAISSON_PROFILE_PATH=" + profiles.path()};

    b.config["annotations"] = {{"org.caisson.seccomp", "budget"}};
    b.config["process"]["args"] = {"/probe", "--fork", "5"};
    RunResult r = b.oci("run", {"--bundle", b.path()}, "budget", env);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["fork"]["made"], 3);
    EXPECT_EQ(r.probe["fork"]["error"], "EAGAIN");

    // Processes exec'd later draw on the same budget: the first takes it all.
    b.config["process"]["args"] = {"/bin/sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "shared", env).status, 0);
    json state = read_json(b.root() + "/shared/state.json");
    ASSERT_TRUE(state.contains("monitor_pid")) << state.dump();
    const int monitor = state["monitor_pid"];
    // What is not a seccomp listener is dropped, never polled: an eventfd stays readable, and
    // would keep a monitor that took it spinning.
    {
        int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", (b.root() + "/shared/monitor.sock").c_str());
        ASSERT_EQ(::connect(sock, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        int fake = ::eventfd(1, EFD_CLOEXEC);
        char byte = 'L';
        iovec iov{&byte, 1};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fake, sizeof(int));
        ASSERT_EQ(::sendmsg(sock, &msg, 0), 1);
        ::close(fake);
        ::close(sock);
    }
    RunResult first = b.oci("exec", {"shared", "/probe", "--fork", "5"}, "", env);
    ASSERT_EQ(first.status, 0) << first.err;
    EXPECT_EQ(first.probe["fork"]["made"], 3);
    RunResult second = b.oci("exec", {"shared", "/probe", "--fork", "5"}, "", env);
    ASSERT_EQ(second.status, 0) << second.err;
    EXPECT_EQ(second.probe["fork"]["made"], 0);
    EXPECT_EQ(second.probe["fork"]["error"], "EAGAIN");
    // By now the monitor has read the fake's connection (it came first): nothing kept of it.
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(monitor) + "/fd")) {
        std::error_code ec;
        EXPECT_NE(std::filesystem::read_symlink(e.path(), ec).string(), "anon_inode:[eventfd]") << "the monitor kept a fake listener";
    }
    ASSERT_EQ(b.oci("delete", {"--force"}, "shared").status, 0);
    std::string stat;
    {
        std::ifstream in("/proc/" + std::to_string(monitor) + "/stat");
        std::getline(in, stat);
    }
    EXPECT_TRUE(stat.empty() || stat.find(") Z ") != std::string::npos) << "the monitor outlived delete: " << stat;

    // A kill verdict ends the container: its init, and so its pid namespace.
    b.config["annotations"] = {{"org.caisson.seccomp", "fatal"}};
    b.config["process"]["args"] = {"/probe", "--fork", "5"};
    RunResult killed = b.oci("run", {"--bundle", b.path()}, "fatal", env);
    EXPECT_EQ(killed.status, 128 + SIGKILL) << killed.out << killed.err;

    // Without a pid namespace of its own a kill could not reach every process: refused.
    b.config["annotations"] = {{"org.caisson.seccomp", "budget"}};
    json& ns = b.config["linux"]["namespaces"];
    for (size_t i = 0; i < ns.size(); ++i)
        if (ns[i]["type"] == "pid") ns.erase(i--);
    RunResult shared_pid = b.oci("run", {"--bundle", b.path()}, "nopid", env);
    EXPECT_EQ(shared_pid.status, 1);
    EXPECT_NE(shared_pid.err.find("own pid namespace"), std::string::npos) << shared_pid.err;
}

bool bpf_lsm_runs() {
    std::ifstream in("/sys/kernel/security/lsm");
    std::string list;
    return std::getline(in, list) && ("," + list + ",").find(",bpf,") != std::string::npos;
}

// BPF LSM programs by annotation: attached to the container's cgroup before its init is in
// it, and held by caisson's monitor for the container's life (create returns at once). Where
// the kernel does not run them (this host), refused, or with lsm-best-effort run without
// them and said so; where it does (the qemu guest), an exec past the budget is refused, also
// for a process exec'd later.
TEST(OciAnnotations, BpfLsmProgramsHeldByCaissonsMonitor) {
    Bundle b;
    b.config["annotations"] = {{"org.caisson.lsm-exec-max", "1"}};
    const std::string script = "/bin/busybox true && echo first; /bin/busybox true || echo second-refused";
    if (!bpf_lsm_runs()) {
        if (std::getenv("CAISSON_EXPECT_BPF_LSM")) FAIL() << "the BPF LSM does not run";
        RunResult refused = b.run({}, "lsm");
        EXPECT_EQ(refused.status, 1);
        EXPECT_NE(refused.err.find("org.caisson.lsm-best-effort runs without them"), std::string::npos) << refused.err;
        EXPECT_FALSE(std::filesystem::exists(b.root() + "/lsm"));
        b.config["annotations"]["org.caisson.lsm-best-effort"] = "true";
        RunResult r = b.run({}, "lsm-best");
        EXPECT_EQ(r.status, 0) << r.err;
        EXPECT_NE(r.err.find("running without them (best effort)"), std::string::npos) << r.err;
        return;
    }
    b.config["process"]["args"] = {"/bin/busybox", "sh", "-c", script};
    RunResult r = b.oci("run", {"--bundle", b.path()}, "lsm");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "first\nsecond-refused\n");
    // The budget is the container's, and holds after create has returned (the monitor holds
    // the programs): the program, one exec'd process, and no second one.
    b.config["process"]["args"] = {"/bin/busybox", "sleep", "60"};
    ASSERT_EQ(b.oci("run", {"--bundle", b.path(), "--detach"}, "lsm-held").status, 0);
    RunResult first = b.oci("exec", {"lsm-held", "/bin/busybox", "true"}, "");
    EXPECT_EQ(first.status, 0) << first.err;
    RunResult second = b.oci("exec", {"lsm-held", "/bin/busybox", "true"}, "");
    EXPECT_NE(second.status, 0) << "an exec past the budget started: " << second.out << second.err;
    ASSERT_EQ(b.oci("delete", {"--force"}, "lsm-held").status, 0);
}

TEST(OciAnnotations, WhatCaissonOciCannotApplyIsRefusedNamingIt) {
    Bundle b;
    TempDir profiles;
    std::filesystem::create_directory(profiles.path() + "/seccomp");
    std::ofstream(profiles.path() + "/seccomp/notifying.toml")
        << "extends = \"default\"\n[[rule]]\nsyscall = \"uname\"\naction = \"notify\"\n";
    std::ofstream(profiles.path() + "/seccomp/budget.toml")
        << "extends = \"default\"\n[[supervise]]\nsyscall = \"clone\"\nmax = 3\n";
    ::setenv("CAISSON_PROFILE_PATH", profiles.path().c_str(), 1);
    struct Unset {
        ~Unset() { ::unsetenv("CAISSON_PROFILE_PATH"); }
    } unset;
    struct Case {
        json annotations;
        const char* says;
    };
    for (const auto& c : std::vector<Case>{
             {{{"org.caisson.landlock-rx", "/probe"}, {"org.caisson.hostname", "x"}}, "not a protection caisson-oci takes"},
             {{{"org.caisson.lsm-deny-file", "/etc/passwd"}}, "names host files"},
             {{{"org.caisson.seccomp", "notifying"}}, "has notify rules"},
             {{{"org.caisson.landlok-ro", "/"}}, "caisson has no setting \"landlok-ro\""},
             {{{"org.caisson.seccomp", "/etc/passwd"}}, "is not a name"},
             {{{"org.caisson.landlock-best-effort", "maybe"}}, "true or false"},
         }) {
        b.config["annotations"] = c.annotations;
        RunResult r = b.run({}, "refused");
        EXPECT_EQ(r.status, 1) << c.annotations.dump() << ": " << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << c.annotations.dump() << ": " << r.err;
        EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
    }
    // A supervised policy with the config's SCMP_ACT_TRACE (a notification outranks it), and
    // BPF LSM programs without a pid namespace of the container's own (a process could
    // outlive the monitor that holds them).
    b.config["annotations"] = {{"org.caisson.seccomp", "budget"}};
    b.config["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                    {"syscalls", {{{"names", {"acct"}}, {"action", "SCMP_ACT_TRACE"}}}}};
    RunResult traced = b.run({}, "refused");
    EXPECT_EQ(traced.status, 1);
    EXPECT_NE(traced.err.find("SCMP_ACT_TRACE"), std::string::npos) << traced.err;
    b.config["linux"].erase("seccomp");
    b.config["annotations"] = {{"org.caisson.lsm-exec-max", "1"}, {"org.caisson.lsm-best-effort", "true"}};
    json namespaces = b.config["linux"]["namespaces"];
    json& ns = b.config["linux"]["namespaces"];
    for (size_t i = 0; i < ns.size(); ++i)
        if (ns[i]["type"] == "pid") ns.erase(i--);
    RunResult nopid = b.run({}, "refused");
    EXPECT_EQ(nopid.status, 1);
    EXPECT_NE(nopid.err.find("own pid namespace"), std::string::npos) << nopid.err;
    b.config["linux"]["namespaces"] = namespaces;

    // With CAP_NET_ADMIN in the host's user namespace the process could detach the filter.
    b.config["annotations"] = {{"org.caisson.deny-private", "true"}};
    b.config["process"]["capabilities"]["bounding"].push_back("CAP_NET_ADMIN");
    RunResult undo = b.run({}, "refused");
    EXPECT_EQ(undo.status, 1);
    EXPECT_NE(undo.err.find("could detach the egress filter"), std::string::npos) << undo.err;

    // CAP_NET_RAW (kept by containerd's and Docker's defaults) goes around the filter through
    // packet sockets, in a user namespace of the container's own too (an attack run).
    json& bounding = b.config["process"]["capabilities"]["bounding"];
    bounding.erase(std::find(bounding.begin(), bounding.end(), "CAP_NET_ADMIN"));
    bounding.push_back("CAP_NET_RAW");
    b.config["annotations"] = {{"org.caisson.allow-connect", "10.0.0.0/8:9"}};
    for (bool own_userns : {false, true}) {
        if (own_userns) {
            ns.push_back({{"type", "user"}});
            b.config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
            b.config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
        }
        RunResult raw = b.run({}, "refused");
        EXPECT_EQ(raw.status, 1) << "own user namespace: " << own_userns;
        EXPECT_NE(raw.err.find("CAP_NET_RAW or CAP_NET_ADMIN"), std::string::npos) << raw.err;
    }
    // Whichever set holds it: the bounding set does not bound the ambient set, nor root's exec
    // of the inheritable one.
    bounding.erase(std::find(bounding.begin(), bounding.end(), "CAP_NET_RAW"));
    for (const char* set : {"inheritable", "ambient", "permitted"}) {
        json& caps = b.config["process"]["capabilities"];
        json before = caps.contains(set) ? caps[set] : json::array();
        caps[set].push_back("CAP_NET_RAW");
        RunResult raw = b.run({}, "refused");
        EXPECT_EQ(raw.status, 1) << set;
        EXPECT_NE(raw.err.find("CAP_NET_RAW or CAP_NET_ADMIN"), std::string::npos) << set << ": " << raw.err;
        caps[set] = before;
    }
}

}  // namespace
}  // namespace caisson::test
