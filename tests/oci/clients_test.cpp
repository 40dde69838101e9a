// Real clients driving caisson-oci: Podman (through conmon), containerd (ctr, through its
// runc shim) and Docker (dockerd over that containerd). Each test asserts the container's
// output and exit code, and that no state, mount or cgroup of it remains. Skipped, and said
// so, where a client is not installed (scripts/setup.sh --check installs them).
#include "harness.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace caisson::test {
namespace {

struct Shell {
    int status;
    std::string out;
};

// One shell command, its stdout and stderr together.
Shell shell(const std::string& cmd) {
    std::string full = cmd + " 2>&1";
    FILE* p = ::popen(full.c_str(), "r");
    Shell s{-1, {}};
    if (!p) return s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) s.out.append(buf, n);
    int st = ::pclose(p);
    s.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return s;
}

bool have(const char* path) { return ::access(path, X_OK) == 0; }

std::vector<std::string> mounts_under(const std::string& dir) {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.find(" " + dir) != std::string::npos) out.push_back(line);
    return out;
}

// Everything the clients made lives in one directory; the fixture takes it all down.
class Clients : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!have("/usr/bin/podman")) return;
        for (const char* parent : kClientParents)
            if (::access((std::string("/sys/fs/cgroup/memory/") + parent).c_str(), F_OK) == 0) kept_parents_.push_back(parent);
        dir_ = new TempDir();
        const std::string& d = dir_->path();
        std::ofstream(d + "/containers.conf") << "[containers]\n"
                                                 "default_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\n"
                                                 "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n";
        // A busybox image, imported from a directory tree.
        std::filesystem::create_directories(d + "/img/bin");
        std::filesystem::copy_file("/bin/busybox", d + "/img/bin/busybox");
        for (const char* t : {"sh", "sleep", "cat", "echo", "true", "tty"}) std::filesystem::create_symlink("busybox", d + "/img/bin/" + t);
        for (const char* t : {"proc", "sys", "dev", "etc", "tmp"}) std::filesystem::create_directories(d + "/img/" + t);
        shell("tar -C " + d + "/img -cf " + d + "/img.tar .");
        Shell imp = shell(podman() + " import " + d + "/img.tar localhost/caisson-bb:latest");
        imported_ = imp.status == 0;
    }
    static void TearDownTestSuite() {
        if (!dir_) return;
        // A failed ctr test may leave its tasks: remove them while containerd still runs.
        if (containerd_pid_ > 0)
            shell("for c in $(" + ctr() + " container ls -q); do " + ctr() + " task kill -s SIGKILL $c; " + ctr() +
                  " task rm -f $c; " + ctr() + " container rm $c; done");
        stop_daemons();
        shell(podman() + " rm -af -t 0");
        shell(podman() + " system reset -f");
        // Whatever mounts of the storage remain (overlay layers, the storage bind).
        for (int round = 0; round < 4; ++round)
            for (const auto& line : mounts_under(dir_->path())) {
                std::istringstream f(line);
                std::string id, parent, devno, root, target;
                f >> id >> parent >> devno >> root >> target;
                ::umount2(target.c_str(), MNT_DETACH);
            }
        delete dir_;
        dir_ = nullptr;
        // The parent cgroups each client makes for its containers, when this suite made them.
        for (const char* parent : kClientParents) {
            if (std::find(kept_parents_.begin(), kept_parents_.end(), parent) != kept_parents_.end()) continue;
            shell(std::string("find /sys/fs/cgroup/*/") + parent + " -depth -type d -exec rmdir {} +");
        }
    }
    static constexpr const char* kClientParents[] = {"libpod_parent", "docker", "default"};
    static inline std::vector<std::string> kept_parents_;
    void SetUp() override {
        if (!dir_) GTEST_SKIP() << "podman is not installed (scripts/setup.sh --check installs it)";
        if (!imported_) GTEST_SKIP() << "podman could not import the test image";
    }
    static std::string podman() {
        const std::string& d = dir_->path();
        return "CONTAINERS_CONF=" + d + "/containers.conf podman --root " + d + "/storage --runroot " + d +
               "/run --runtime " + oci_path() + " --cgroup-manager cgroupfs";
    }
    // containerd on a socket of its own; dockerd over it.
    static bool start_containerd() {
        if (containerd_pid_ > 0) return true;
        if (!have("/usr/bin/containerd") || !have("/usr/bin/ctr")) return false;
        const std::string& d = dir_->path();
        std::ofstream(d + "/containerd.toml") << "version = 2\nroot = \"" << d << "/ctd-root\"\nstate = \"" << d
                                              << "/ctd-state\"\n[grpc]\n  address = \"" << d << "/ctd.sock\"\n";
        containerd_pid_ = spawn({"/usr/bin/containerd", "--config", d + "/containerd.toml"}, d + "/containerd.log");
        return wait_for(d + "/ctd.sock");
    }
    static bool start_dockerd() {
        if (dockerd_pid_ > 0) return true;
        if (!have("/usr/sbin/dockerd") || !have("/usr/bin/docker") || !start_containerd()) return false;
        const std::string& d = dir_->path();
        dockerd_pid_ = spawn({"/usr/sbin/dockerd", "--data-root", d + "/dk-data", "--exec-root", d + "/dk-exec", "--pidfile",
                              d + "/dk.pid", "-H", "unix://" + d + "/dk.sock", "--add-runtime", std::string("caisson=") + oci_path(),
                              "--bridge", "none", "--iptables=false", "--ip6tables=false", "--containerd", d + "/ctd.sock"},
                             d + "/dockerd.log");
        return wait_for(d + "/dk.sock") && shell(docker() + " version").status == 0;
    }
    static std::string ctr() { return "ctr -a " + dir_->path() + "/ctd.sock"; }
    static std::string docker() { return "/usr/bin/docker -H unix://" + dir_->path() + "/dk.sock"; }
    static void stop_daemons() {
        for (pid_t* p : {&dockerd_pid_, &containerd_pid_}) {
            if (*p <= 0) continue;
            ::kill(*p, SIGTERM);
            for (int i = 0; i < 200; ++i) {
                if (::waitpid(*p, nullptr, WNOHANG) == *p) break;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                if (i == 199) ::kill(*p, SIGKILL), ::waitpid(*p, nullptr, 0);
            }
            *p = -1;
        }
        shell("pkill -f 'containerd-shim-runc-v2 -namespace .* -address " + dir_->path() + "'");
    }
    static pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
        pid_t pid = ::fork();
        if (pid == 0) {
            int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::setsid();
            std::vector<char*> a;
            for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
            a.push_back(nullptr);
            ::execv(a[0], a.data());
            ::_exit(127);
        }
        return pid;
    }
    static bool wait_for(const std::string& path) {
        for (int i = 0; i < 300; ++i) {
            if (::access(path.c_str(), F_OK) == 0) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }
    // Nothing of the container named `name` is left: no cgroup, no caisson-oci state.
    void expect_gone(const std::string& needle) {
        Shell cg = shell("find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -type d -name '*" + needle + "*'");
        EXPECT_EQ(cg.out, "") << "cgroups left";
        Shell st = shell("find /run/caisson-oci " + dir_->path() + "/run -maxdepth 3 -name 'state.json' -path '*" + needle + "*'");
        EXPECT_EQ(st.out, "") << "state left";
    }

    static inline TempDir* dir_ = nullptr;
    static inline bool imported_ = false;
    static inline pid_t containerd_pid_ = -1, dockerd_pid_ = -1;
};

TEST_F(Clients, PodmanRunRm) {
    Shell s = shell(podman() + " run --rm --network none localhost/caisson-bb:latest sh -c 'echo hello from podman; exit 7'");
    EXPECT_EQ(s.status, 7) << s.out;
    EXPECT_NE(s.out.find("hello from podman"), std::string::npos) << s.out;
    Shell nf = shell(podman() + " run --rm --network none localhost/caisson-bb:latest nosuchcommand");
    EXPECT_EQ(nf.status, 127) << nf.out;
    EXPECT_EQ(shell(podman() + " ps -aq").out, "");
}

TEST_F(Clients, PodmanRunInteractiveUnderAPty) {
    if (!have("/usr/bin/script")) GTEST_SKIP() << "script(1) is missing";
    // What the process sees is written to a bind mount, not read from podman's output: conmon
    // may lose the output of a terminal whose process ends at once (runc too: 2 of 20 runs
    // of `tty; exit 3` printed nothing, with the exit status right).
    TempDir out;
    Shell s = shell("timeout 60 script -qec \"" + podman() + " run -it --rm --network none -v " + out.path() +
                    ":/out localhost/caisson-bb:latest sh -c 'tty > /out/tty; exit 3'\" /dev/null");
    EXPECT_EQ(s.status, 3) << s.out;
    EXPECT_EQ(read_file(out.path() + "/tty"), "/dev/pts/0\n") << s.out;
}

TEST_F(Clients, PodmanExecPauseStopRm) {
    Shell run = shell(podman() + " run -d --name caisson-pm1 --network none localhost/caisson-bb:latest sleep 1000");
    ASSERT_EQ(run.status, 0) << run.out;
    std::string id = run.out.substr(0, 12);
    Shell ex = shell(podman() + " exec caisson-pm1 sh -c 'echo exec-ok; exit 4'");
    EXPECT_EQ(ex.status, 4) << ex.out;
    EXPECT_NE(ex.out.find("exec-ok"), std::string::npos);
    EXPECT_EQ(shell(podman() + " pause caisson-pm1").status, 0);
    EXPECT_NE(shell(podman() + " ps -a --format '{{.Status}}' -f name=caisson-pm1").out.find("Paused"), std::string::npos);
    EXPECT_EQ(shell(podman() + " unpause caisson-pm1").status, 0);
    Shell stop = shell(podman() + " stop -t 1 caisson-pm1");
    EXPECT_EQ(stop.status, 0) << stop.out;
    EXPECT_EQ(shell(podman() + " rm -f caisson-pm1").status, 0);
    Shell rmf = shell(podman() + " run -d --name caisson-pm2 --network none localhost/caisson-bb:latest sleep 1000");
    std::string id2 = rmf.out.substr(0, 12);
    EXPECT_EQ(shell(podman() + " rm -f -t 0 caisson-pm2").status, 0);
    EXPECT_EQ(shell(podman() + " ps -aq").out, "");
    expect_gone(id);
    expect_gone(id2);
}

TEST_F(Clients, CtrRunAndTaskExec) {
    if (!start_containerd()) GTEST_SKIP() << "containerd is not installed or did not start";
    const std::string& d = dir_->path();
    ASSERT_EQ(shell(podman() + " save --format oci-archive -o " + d + "/bb-oci.tar localhost/caisson-bb:latest").status, 0);
    Shell imp = shell(ctr() + " images import --base-name localhost/caisson-bb --all-platforms " + d + "/bb-oci.tar");
    ASSERT_EQ(imp.status, 0) << imp.out;
    // The shim's runtime state goes under this suite's directory, and the names carry this run's pid:
    // state left in /run by a run that was killed can never collide with this one.
    const std::string c1 = "caisson-c1-" + std::to_string(::getpid()), c2 = "caisson-c2-" + std::to_string(::getpid());
    std::string rt = std::string(" --runc-binary ") + oci_path() + " --runc-root " + d + "/ctr-runc ";
    Shell run = shell("timeout 60 " + ctr() + " run --rm" + rt + "localhost/caisson-bb:latest " + c1 + " sh -c 'echo from ctr; exit 5'");
    EXPECT_EQ(run.status, 5) << run.out;
    EXPECT_NE(run.out.find("from ctr"), std::string::npos);
    ASSERT_EQ(shell("timeout 60 " + ctr() + " run -d" + rt + "localhost/caisson-bb:latest " + c2 + " sleep 1000").status, 0);
    Shell ex = shell("timeout 60 " + ctr() + " task exec --exec-id e1 " + c2 + " sh -c 'echo exec in ctr; exit 4'");
    EXPECT_EQ(ex.status, 4) << ex.out;
    EXPECT_NE(ex.out.find("exec in ctr"), std::string::npos);
    shell(ctr() + " task kill -s SIGKILL " + c2);
    for (int i = 0; i < 100 && shell(ctr() + " task ls").out.find("RUNNING") != std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(shell(ctr() + " task rm " + c2).status, 0);
    EXPECT_EQ(shell(ctr() + " container rm " + c2).status, 0);
    expect_gone("caisson-c");
    EXPECT_TRUE(mounts_under(d + "/ctd-state").empty());
}

TEST_F(Clients, DockerRunWithTheCaissonRuntime) {
    if (!start_dockerd()) GTEST_SKIP() << "dockerd is not installed or did not start";
    const std::string& d = dir_->path();
    ASSERT_EQ(shell(podman() + " save --format docker-archive -o " + d + "/bb-docker.tar localhost/caisson-bb:latest").status, 0);
    ASSERT_EQ(shell(docker() + " load -i " + d + "/bb-docker.tar").status, 0);
    Shell run = shell("timeout 60 " + docker() +
                      " run --rm --runtime caisson --network none localhost/caisson-bb:latest sh -c 'echo from docker; exit 6'");
    EXPECT_EQ(run.status, 6) << run.out;
    EXPECT_NE(run.out.find("from docker"), std::string::npos);
    EXPECT_EQ(shell(docker() + " ps -aq").out, "");
}

TEST_F(Clients, ContainerdLoadsTheDocumentedRuntimeClassConfig) {
    if (!have("/usr/bin/containerd")) GTEST_SKIP() << "containerd is not installed";
    std::string conf = std::string(source_dir()) + "/docs/kubernetes/containerd-caisson.toml";
    Shell dump = shell("containerd --config " + conf + " config dump");
    ASSERT_EQ(dump.status, 0) << dump.out;
    EXPECT_NE(dump.out.find("runtimes.caisson"), std::string::npos) << dump.out;
    EXPECT_NE(dump.out.find("BinaryName = \"/usr/local/bin/caisson-oci\""), std::string::npos) << dump.out;
    EXPECT_NE(dump.out.find("pod_annotations = [\"org.caisson.*\"]"), std::string::npos) << dump.out;
}

}  // namespace
}  // namespace caisson::test
