// `caisson run --vm`: the program runs in a guest kernel of its own, under the same policy
// there, with its streams and status carried back; qemu and the file server are jailed on
// the host, and nothing outlives caisson. Each test boots a guest (software emulation here:
// about 4 s), so the checks are grouped into few boots.
#include "harness.hpp"
#include "netns.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace caisson::test {
namespace {

using nlohmann::json;

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string status_field(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key + ":", 0) == 0) {
            std::string v = line.substr(key.size() + 1);
            return v.substr(v.find_first_not_of(" \t"));
        }
    return "";
}

// The processes beneath `root` whose executable's name starts with `name`.
std::vector<pid_t> descendants_named(pid_t root, const std::string& name) {
    std::map<pid_t, pid_t> parent;
    std::map<pid_t, std::string> comm;
    for (auto& e : std::filesystem::directory_iterator("/proc")) {
        std::string n = e.path().filename();
        if (n.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t pid = std::stoi(n);
        std::string pp = status_field(pid, "PPid");
        if (pp.empty()) continue;
        parent[pid] = std::stoi(pp);
        comm[pid] = status_field(pid, "Name");
    }
    std::vector<pid_t> found;
    for (auto& [pid, c] : comm) {
        if (c.rfind(name, 0) != 0) continue;
        for (pid_t p = parent[pid]; p > 1; p = parent.count(p) ? parent[p] : 0)
            if (p == root) {
                found.push_back(pid);
                break;
            }
    }
    return found;
}

std::string vm_unavailable() { return host_lacks("caisson run --vm"); }

TEST(Vm, TheProbeSeesAKernelOfItsOwnUnderTheSamePolicy) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    TempDir dir;
    const std::string report = dir.path() + "/report.json";
    RunResult r = run_caisson({"run", "--vm", "--report", report, "--ro-bind", probe_path(), kProbeInside, "--", "/bin/sh",
                               "-c",
                               "cat /proc/sys/kernel/osrelease /proc/sys/kernel/random/boot_id; "
                               "exec /tmp/probe --write /etc/caisson-vm-test --exit 7"});
    ASSERT_EQ(r.status, 7) << r.err;
    // A kernel of its own: another release, another boot.
    std::istringstream lines(r.out);
    std::string release, boot;
    std::getline(lines, release);
    std::getline(lines, boot);
    EXPECT_NE(release, first_line("/proc/sys/kernel/osrelease"));
    EXPECT_EQ(boot.size(), 36u) << r.out;
    EXPECT_NE(boot, first_line("/proc/sys/kernel/random/boot_id"));
    // The sandbox's protections hold in there as they do here.
    const json& st = r.probe["status"];
    EXPECT_EQ(st["NoNewPrivs"], "1");
    EXPECT_EQ(st["Seccomp"], "2");
    EXPECT_EQ(st["CapEff"], "0000000000000000");
    EXPECT_EQ(r.probe["uid_map"].get<std::string>().find("65534") != std::string::npos, true) << r.probe["uid_map"];
    EXPECT_EQ(r.probe["hostname"], "caisson");
    EXPECT_EQ(r.probe["interfaces"].size(), 1u) << r.probe["interfaces"];
    EXPECT_NE(r.probe["writes"]["/etc/caisson-vm-test"], "ok") << r.probe["writes"];
    // The report is the guest caisson's, with how the guest ran.
    json rep = read_json(report);
    EXPECT_EQ(rep["exit_code"], 7);
    EXPECT_TRUE(rep["protections"].dump().find("seccomp") != std::string::npos) << rep["protections"];
    EXPECT_TRUE(rep["vm"]["accel"] == "tcg" || rep["vm"]["accel"] == "kvm") << rep["vm"];
    EXPECT_GT(rep["vm"]["boot_ms"].get<double>(), 0.0);
    EXPECT_EQ(rep["vm"]["machine"], "microvm");
}

TEST(Vm, StreamsAreBinarySafeAndTheStatusComesBack) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    TempDir dir;
    const std::string input = dir.path() + "/input";
    std::string data(10 << 20, '\0');
    std::mt19937_64 rng(21);
    for (auto& c : data) c = static_cast<char>(rng());
    {
        std::ofstream out(input, std::ios::binary);
        out.write(data.data(), static_cast<std::streamsize>(data.size()));
    }
    RunOptions o;
    o.stdin_fd = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(o.stdin_fd, 0);
    RunResult r = run_caisson({"run", "--vm", "--", "/bin/sh", "-c", "cat; echo to-stderr >&2; exit 3"}, o);
    ::close(o.stdin_fd);
    EXPECT_EQ(r.status, 3) << r.err;
    ASSERT_EQ(r.out.size(), data.size());
    EXPECT_TRUE(r.out == data) << "10 MB of binary data changed on the way";
    EXPECT_NE(r.err.find("to-stderr"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("to-stderr"), std::string::npos);

    // SIGTERM to caisson reaches the program in the guest, which it ends as it would here:
    // 128 + the signal, and the report says which.
    const std::string report = dir.path() + "/report.json";
    RunOptions t;
    t.on_ready = [](pid_t caisson) { ::kill(caisson, SIGTERM); };
    RunResult k = run_caisson({"run", "--vm", "--report", report, "--", "/bin/sh", "-c", "echo ready; exec sleep 600"}, t);
    EXPECT_EQ(k.status, 128 + SIGTERM) << k.err;
    json rep = read_json(report);
    EXPECT_EQ(rep["exited"], false);
    EXPECT_EQ(rep["signal"], SIGTERM);
}

TEST(Vm, TheTimeLimitFiresInTheGuest) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    TempDir dir;
    const std::string report = dir.path() + "/report.json";
    auto t0 = std::chrono::steady_clock::now();
    RunResult r = run_caisson({"run", "--vm", "--time-limit", "2", "--report", report, "--", "/bin/sleep", "600"});
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.status, 128 + SIGKILL) << r.err;
    EXPECT_EQ(read_json(report)["time_limit_fired"], true);
    EXPECT_LT(s, 120.0);  // a boot, two seconds, a take-down: not the ten minutes
}

// The guest's init comes to qemu as a sealed memfd made for the run, not as a file of a cache
// that a sandbox given ~/.cache could rewrite between caisson's look and qemu's open: no one,
// root included, changes what qemu reads.
TEST(Vm, TheInitramfsIsASealedDescriptorNoOneCanChange) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    int in[2];
    ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
    RunOptions o;
    o.stdin_fd = in[0];
    bool looked = false;
    o.on_ready = [&](pid_t caisson) {
        auto qemu = descendants_named(caisson, "qemu-system");
        ASSERT_EQ(qemu.size(), 1u);
        std::string cmdline = read_file("/proc/" + std::to_string(qemu[0]) + "/cmdline");
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        const std::string key = " -initrd /proc/self/fd/";
        size_t at = cmdline.find(key);
        ASSERT_NE(at, std::string::npos) << cmdline;
        const std::string fd = cmdline.substr(at + key.size(), cmdline.find(' ', at + key.size()) - at - key.size());
        const std::string held = "/proc/" + std::to_string(qemu[0]) + "/fd/" + fd;
        EXPECT_EQ(std::filesystem::read_symlink(held).string().rfind("/memfd:caisson-vm-initramfs", 0), 0u);
        int w = ::open(held.c_str(), O_RDWR | O_CLOEXEC);
        ASSERT_GE(w, 0) << held;
        errno = 0;
        EXPECT_EQ(::write(w, "planted", 7), -1);
        EXPECT_EQ(errno, EPERM);
        EXPECT_NE(::ftruncate(w, 0), 0);
        ::close(w);
        looked = true;
        ASSERT_EQ(::write(in[1], "x\n", 2), 2);
    };
    RunResult r = run_caisson({"run", "--vm", "--", "/bin/sh", "-c", "echo ready; read line; echo done"}, o);
    ::close(in[0]);
    ::close(in[1]);
    EXPECT_TRUE(looked);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "ready\ndone\n");
}

// --rootfs: the file server shows the directory at its own path, and the guest's caisson
// pivots into it, as it would on the host: the program sees that root, and neither the
// host's files nor the guest's initramfs.
TEST(Vm, ARootfsIsTheProgramsRootInTheGuest) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    TempDir dir;
    make_mini_rootfs(dir.path());
    std::ofstream(dir.path() + "/etc/marker") << "rootfs\n";
    RunResult r = run_caisson({"run", "--vm", "--rootfs", dir.path(), "--", "/probe", "--read", "/etc/marker", "--read",
                               "/etc/passwd", "--read", "/init", "--read", "/proc/sys/kernel/osrelease"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"]["/etc/marker"], "data") << r.probe["reads"];
    EXPECT_NE(r.probe["reads"]["/etc/passwd"], "data") << "the host's /etc reached the program";
    EXPECT_NE(r.probe["reads"]["/init"], "data") << "the guest's initramfs reached the program";
    EXPECT_EQ(r.probe["status"]["NoNewPrivs"], "1");
    EXPECT_NE(r.probe["ns"]["mnt"], host_ns("mnt"));
    // A rootfs that is the host's root under another name would widen the file server's view.
    RunResult slash = run_caisson({"run", "--vm", "--rootfs", "//", "--", "/bin/true"});
    EXPECT_EQ(slash.status, 125);
    EXPECT_NE(slash.err.find("is the host's root"), std::string::npos) << slash.err;
    // In the guest: its kernel's /proc, not the host's (whose release this would read).
    if (!std::filesystem::exists("/bin/busybox")) GTEST_SKIP() << "no static /bin/busybox to read the guest's /proc with";
    std::filesystem::copy_file("/bin/busybox", dir.path() + "/bin/busybox");
    RunResult k = run_caisson({"run", "--vm", "--rootfs", dir.path(), "--", "/bin/busybox", "cat", "/proc/sys/kernel/osrelease"});
    ASSERT_EQ(k.status, 0) << k.err;
    EXPECT_NE(k.out, first_line("/proc/sys/kernel/osrelease") + "\n");
    EXPECT_FALSE(k.out.empty());
}

// What the guest kernel caisson would boot lacks for `option` (--overlay, --net user), as
// caisson says it, or "" when it has it.
std::string guest_kernel_lacks(const std::vector<std::string>& option) {
    std::vector<std::string> args = {"run", "--vm"};
    args.insert(args.end(), option.begin(), option.end());
    args.insert(args.end(), {"--", "/bin/true"});
    RunResult r = run_caisson(args);
    if (r.status == 0) return "";
    if (r.err.find("scripts/vm-kernel.sh builds") != std::string::npos) return r.err;
    ADD_FAILURE() << r.err;
    return r.err;
}

// --overlay in the guest: an overlay in the guest's memory over the share. A file that no one
// of the file server's ids owns on the host (its kernel would refuse it O_NOATIME, which
// overlayfs asks for) is read, written, made, chmodded and dated; the host's stays as it was.
TEST(Vm, AnOverlayTakesTheGuestsWritesAndTheyVanish) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    if (auto why = guest_kernel_lacks({"--overlay"}); !why.empty()) GTEST_SKIP() << why;
    // In /var/tmp: the share hides the host's /tmp.
    char tmpl[] = "/var/tmp/caisson-vm-overlay-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    struct Cleanup {
        std::string d;
        ~Cleanup() { std::filesystem::remove_all(d); }
    } cleanup{dir};
    std::ofstream(dir + "/f") << "host\n";
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
    ASSERT_EQ(::chown((dir + "/f").c_str(), 4242, 4242), 0);
    ASSERT_EQ(::chown(dir.c_str(), 4242, 4242), 0);
    RunResult r = run_caisson({"run", "--vm", "--overlay", "--", "/bin/sh", "-c",
                               "cat " + dir + "/f && echo guest > " + dir + "/f && cat " + dir + "/f && echo new > " + dir +
                                   "/g && chmod 600 " + dir + "/g && stat -c %a " + dir + "/g && touch -d @0 " + dir +
                                   "/g && stat -c %Y " + dir + "/g"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "host\nguest\n600\n0\n");
    EXPECT_EQ(first_line(dir + "/f"), "host");
    EXPECT_FALSE(std::filesystem::exists(dir + "/g"));
    // Without --overlay the share stays read-only in the guest.
    RunResult ro = run_caisson({"run", "--vm", "--", "/bin/sh", "-c", "echo guest > " + dir + "/f"});
    EXPECT_NE(ro.status, 0);
    EXPECT_EQ(first_line(dir + "/f"), "host");
}

// --net user in the guest: its one network device, carried by passt through the host's
// sockets, reaches a test host; the gateway is not the host's loopback.
TEST(Vm, NetUserReachesATestHostThroughPasstAndNotTheHostsLoopback) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    if (auto why = guest_kernel_lacks({"--net", "user"}); !why.empty()) GTEST_SKIP() << why;
    TestHost th("cth8", "10.232.8.1", "10.232.8.2");
    ASSERT_TRUE(th.ok());
    int listener = th.listen_on("10.232.8.2", 7008);
    ASSERT_GE(listener, 0);
    int host_only = listen_loopback(7109);
    ASSERT_GE(host_only, 0);
    TempDir dir;
    const std::string report = dir.path() + "/report.json";
    RunResult r = run_caisson({"run", "--vm", "--net", "user", "--report", report, "--ro-bind", probe_path(), kProbeInside,
                               "--", kProbeInside, "--dial", "tcp:10.232.8.2:7008", "--dial", "tcp:10.0.2.2:7109", "--dial",
                               "tcp:127.0.0.1:7109"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["dials"]["tcp:10.232.8.2:7008"], "ok") << r.probe["dials"];
    EXPECT_EQ(r.probe["dials"]["tcp:127.0.0.1:7109"], "ECONNREFUSED");  // the sandbox's own loopback
    // The gateway's address goes out as any other (some networks answer every address: what
    // the dial itself gave says nothing), never to the host's loopback, where nothing came.
    EXPECT_TRUE(r.probe["interfaces"].contains("eth0")) << r.probe["interfaces"];
    // passt connected from the host's own stack, with the host's address on that link.
    EXPECT_EQ(accept_peer(listener, 5000), "10.232.8.1");
    pollfd none{host_only, POLLIN, 0};
    EXPECT_EQ(::poll(&none, 1, 0), 0) << "a connection reached the host's loopback";
    json rep = read_json(report);
    EXPECT_NE(rep["protections"].dump().find("passt"), std::string::npos) << rep["protections"];
    ::close(listener);
    ::close(host_only);
}

TEST(Vm, QemuAndTheFileServerAreJailedAndEndWithCaisson) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    int in[2];
    ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
    RunOptions o;
    o.stdin_fd = in[0];
    std::vector<int> jailed;  // pidfds of qemu, virtiofsd and everything of caisson's beneath
    // With --net user where the guest kernel carries it: passt, in a cgroup of its own, goes too.
    const bool net = guest_kernel_lacks({"--net", "user"}).empty();
    o.on_ready = [&](pid_t caisson) {
        auto qemu = descendants_named(caisson, "qemu-system");
        auto files = descendants_named(caisson, "virtiofsd");
        if (net) {
            auto passt = descendants_named(caisson, "passt");
            ASSERT_EQ(passt.size(), 1u);
            std::ifstream groups("/proc/" + std::to_string(passt[0]) + "/cgroup");
            std::string v2;
            for (std::string line; std::getline(groups, line);)
                if (line.rfind("0::", 0) == 0) v2 = line;
            EXPECT_NE(v2.find("/caisson/caisson-"), std::string::npos) << "passt is not in a cgroup of caisson's, where its filter is: " << v2;
            int fd = static_cast<int>(::syscall(SYS_pidfd_open, passt[0], 0));
            ASSERT_GE(fd, 0);
            jailed.push_back(fd);
        }
        ASSERT_EQ(qemu.size(), 1u);
        ASSERT_GE(files.size(), 1u);
        for (pid_t pid : {qemu[0], files[0]}) {
            SCOPED_TRACE("pid " + std::to_string(pid) + " " + status_field(pid, "Name"));
            EXPECT_EQ(status_field(pid, "NoNewPrivs"), "1");
            EXPECT_EQ(status_field(pid, "Seccomp"), "2");
            EXPECT_EQ(status_field(pid, "Uid").substr(0, 5), "65534");  // nobody on the host
            for (const char* ns : {"user", "pid", "mnt", "net", "ipc"})
                EXPECT_NE(std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + ns).string(), host_ns(ns)) << ns;
            int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
            ASSERT_GE(fd, 0);
            jailed.push_back(fd);
        }
        EXPECT_EQ(status_field(qemu[0], "CapEff"), "0000000000000000");
        EXPECT_EQ(status_field(qemu[0], "CapBnd"), "0000000000000000");
        // And the jails' supervisors, which take their sandboxes' cgroups down after them.
        for (pid_t pid : descendants_named(caisson, "caisson")) {
            int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
            if (fd >= 0) jailed.push_back(fd);
        }
        // Killing caisson takes the guest, qemu and the file server with it.
        ::kill(caisson, SIGKILL);
    };
    std::vector<std::string> args = {"run", "--vm"};
    if (net) args.insert(args.end(), {"--net", "user"});
    args.insert(args.end(), {"--", "/bin/sh", "-c", "echo ready; read line"});
    RunResult r = run_caisson(args, o);
    ::close(in[0]);
    ::close(in[1]);
    EXPECT_EQ(r.status, 128 + SIGKILL);
    ASSERT_GE(jailed.size(), 4u) << r.err;  // qemu, virtiofsd and a supervisor for each
    for (int fd : jailed) {
        pollfd p{fd, POLLIN, 0};
        EXPECT_EQ(::poll(&p, 1, 30000), 1) << "a jailed process outlived caisson";
        ::close(fd);
    }
}

TEST(Vm, AnOrdinaryUsersGuestKeepsTheHomesSecrets) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    if (auto why = host_lacks("caisson run --vm", o); !why.empty()) GTEST_SKIP() << why;
    TempDir home(kUnprivilegedUid);
    const std::string ssh = home.path() + "/.ssh";
    ASSERT_EQ(::mkdir(ssh.c_str(), 0700), 0);
    std::ofstream(ssh + "/id_rsa") << "PRIVATE KEY\n";
    std::ofstream(home.path() + "/notes.txt") << "visible\n";
    for (const std::string& p : {ssh, ssh + "/id_rsa", home.path() + "/notes.txt"})
        ASSERT_EQ(::chown(p.c_str(), kUnprivilegedUid, kUnprivilegedUid), 0) << p;
    o.env = {"HOME=" + home.path()};
    RunResult r = run_probe({"--vm", "--home"}, {"--read", ssh + "/id_rsa", "--read", home.path() + "/notes.txt"}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"][home.path() + "/notes.txt"], "data") << r.probe["reads"].dump();
    EXPECT_NE(r.probe["reads"][ssh + "/id_rsa"], "data") << r.probe["reads"].dump();
    EXPECT_EQ(r.probe["uid_map"].get<std::string>().find("4242"), std::string::npos)
        << "the guest's ids are the guest's: " << r.probe["uid_map"];
}

TEST(Vm, AGuestThatWouldBuildAnotherPolicyRunsNothing) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    // A profile of the caller's shadows the shipped one of the same name; the guest does not
    // see the caller's (it is in /tmp, which the program's view replaces) and would take the
    // shipped one: the digest of the policy differs, and nothing runs.
    TempDir dir;
    std::ofstream(dir.path() + "/judge.toml") << "max-pids = \"77\"\n";
    RunOptions o;
    o.env = {"CAISSON_PROFILE_PATH=" + dir.path()};
    RunResult r = run_caisson({"run", "--vm", "--profile", "judge", "--", "/bin/sh", "-c", "echo ran"}, o);
    EXPECT_EQ(r.status, 125);
    EXPECT_EQ(r.out.find("ran"), std::string::npos);
    // Where the shipped profiles are out of the guest's view too (a build tree in /tmp), the
    // guest finds none by that name: refused as well, before anything runs.
    EXPECT_TRUE(r.err.find("the guest built a policy other than the host's") != std::string::npos ||
                r.err.find("no profile named 'judge'") != std::string::npos)
        << r.err;
    // The error says where the two differ: the profile's ceiling on processes.
    if (r.err.find("other than the host's") != std::string::npos)
        EXPECT_NE(r.err.find("they differ at .ceilings.pids"), std::string::npos) << r.err;
}

// A program that could reach caisson's binary (host root's ids, its own user namespace
// shared) makes the guest's caisson run from a protected copy, which parses the arguments
// again: the policy is compared once, by that copy, and matches (it was compared before the
// copy, whose comparison then found no text of the host's: 'a policy other than the host's').
TEST(Vm, AGuestRunFromAProtectedCopyComparesItsPolicyOnce) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    RunResult r = run_caisson({"run", "--vm", "--share-user", "--map-host-root", "--", "/bin/sh", "-c", "id -u"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "0\n");
}

TEST(Vm, AGuestThatEndsWithoutAStatusIsAClearError) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    // Not a kernel: qemu stops at once, and caisson names that, with the console's lines.
    RunResult r = run_caisson({"run", "--vm", "--vm-kernel", "/bin/true", "--", "/bin/true"});
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("the guest ended without the program's status"), std::string::npos) << r.err;
}

// The kernel scripts/vm-kernel.sh builds, where one is: it has no ACPI, and boots (devices on
// its command line, powered off by a reset) whatever lies beside a copy of it where its
// config-V should be; a FIFO there is never opened (it would hang the start).
TEST(Vm, AKernelBuiltForTheGuestBootsWithoutAcpiWhateverLiesBesideIt) {
    if (auto why = vm_unavailable(); !why.empty()) GTEST_SKIP() << why;
    std::string built;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator("/var/cache/caisson-guest", ec))
        for (auto& k : std::filesystem::directory_iterator(e.path() / "boot", ec))
            if (std::string n = k.path().filename().string(); n.rfind("vmlinuz-", 0) == 0 && n.ends_with("-caisson"))
                built = k.path().string();
    if (built.empty()) GTEST_SKIP() << "no kernel built for the guest (scripts/vm-kernel.sh builds one)";
    TempDir dir;
    const std::string name = built.substr(built.rfind('/') + 1);
    const std::string copy = dir.path() + "/" + name;
    std::filesystem::copy_file(built, copy);
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    ASSERT_EQ(::mkfifo((dir.path() + "/config-" + name.substr(8)).c_str(), 0644), 0);
    const std::string report = dir.path() + "/report.json";
    // Booted with ACPI it would find no device and never say it booted.
    RunResult r = run_caisson({"run", "--vm", "--vm-kernel", copy, "--report", report, "--", "/bin/sh", "-c", "exit 7"});
    EXPECT_EQ(r.status, 7) << r.err;
    EXPECT_EQ(read_json(report)["vm"]["kernel"], copy);
}

TEST(Vm, WhatAGuestCannotCarryIsRefused) {
    expect_refused({"--vm", "--tty"}, "--vm: --tty");
    expect_refused({"--vm", "--net", "host"}, "--net none or --net user");
    expect_refused({"--vm", "--net", "veth"}, "--net none or --net user");
    expect_refused({"--vm", "--net", "user", "--publish", "8080:80"}, "--publish does not reach into a guest");
    expect_refused({"--vm", "--pass-fd", "1"}, "");
    expect_refused({"--vm", "--writable-root"}, "--writable-root cannot write them");
    expect_refused({"--vm", "--overlay", "--overlay-upper", "/var/tmp"}, "--overlay-upper would keep");
    // passt's guard is cgroup BPF: an ordinary user's guest gets no network rather than one
    // that could reach the host's loopback.
    RunOptions as_user;
    as_user.as_uid = kUnprivilegedUid;
    expect_refused({"--vm", "--net", "user"}, "--vm --net user: passt is kept off the host's loopback", as_user);
    expect_refused({"--vm", "--vm-kernel", "/nonexistent/vmlinuz"}, "--vm-kernel: /nonexistent/vmlinuz");
    RunResult r = run_caisson({"listen", "--port", "0", "--vm", "--", "/bin/true"});
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("--vm is an option of caisson run"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace caisson::test
