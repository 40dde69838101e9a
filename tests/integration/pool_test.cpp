// caisson pool and caisson run --pool: a sandbox built ahead of its program sees what a
// sandbox built for it sees; two runs from one pool share nothing; a run whose policy is not
// the pool's is refused, naming what differs; signals reach the program; bad input is named.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace caisson::test {
namespace {

namespace fs = std::filesystem;

constexpr int kExitUsage = 125;  // caisson's own: bad input, nothing left running

// A running `caisson pool`, ready once it said so on stderr.
class Pool {
public:
    explicit Pool(std::vector<std::string> args) : server_(command(socket_ = dir_.path() + "/pool.sock", std::move(args))) {}
    int stop() { return server_.stop(); }
    bool listening() const { return server_.first_line().find("listening on") != std::string::npos; }
    const std::string& first_line() const { return server_.first_line(); }
    const std::string& socket() const { return socket_; }

private:
    static std::vector<std::string> command(const std::string& socket, std::vector<std::string> args) {
        std::vector<std::string> argv = {caisson_path(), "pool", "--socket", socket};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }
    TempDir dir_;
    std::string socket_;
    Server server_;
};

std::vector<std::string> with_probe(std::vector<std::string> args) {
    args.insert(args.begin(), {"--ro-bind", probe_path(), kProbeInside});
    return args;
}

// The probe's report as path -> value.
void flatten(const nlohmann::json& j, const std::string& at, std::map<std::string, std::string>& out) {
    if (j.is_object()) {
        for (const auto& [k, v] : j.items()) flatten(v, at + "/" + k, out);
    } else if (j.is_array()) {
        for (size_t i = 0; i < j.size(); ++i) flatten(j[i], at + "/" + std::to_string(i), out);
    } else {
        out[at] = j.dump();
    }
}

TEST(Pool, APooledSandboxSeesWhatAnUnpooledOneSees) {
    Pool pool(with_probe({}));
    ASSERT_TRUE(pool.listening()) << pool.first_line();
    auto run = [&](bool pooled) {
        std::vector<std::string> args{"run"};
        if (pooled) args.insert(args.end(), {"--pool", pool.socket()});
        for (const auto& a : with_probe({"--", kProbeInside, "--write", "/tmp/x", "--read", "/etc/hostname"})) args.push_back(a);
        RunResult r = run_caisson(args);
        EXPECT_EQ(r.status, 0) << r.err;
        std::map<std::string, std::string> flat;
        flatten(r.probe, "", flat);
        return flat;
    };
    auto a = run(false), b = run(false), p = run(true);
    ASSERT_FALSE(p.empty());
    // What differs between two sandboxes built for their programs (namespace numbers, the
    // pipes' inodes, times) may differ; everything else must be the same.
    size_t compared = 0;
    for (const auto& [key, value] : a) {
        if (b.count(key) && b[key] != value) continue;
        // Kernel object numbers ("pid:[4026532181]", "pipe:[...]") are freed and given out
        // again: two runs may share one by chance, which says nothing.
        if (value.find(":[") != std::string::npos) continue;
        // Clock readings move on between any two runs.
        if (key == "/monotonic_s" || key == "/boottime_s") continue;
        ++compared;
        EXPECT_EQ(p.count(key) ? p[key] : "(absent)", value) << key;
    }
    for (const auto& [key, value] : p)
        if (!a.count(key)) ADD_FAILURE() << "only the pooled sandbox has " << key << " = " << value;
    EXPECT_GT(compared, 100u) << "the reports were compared field by field";
}

TEST(Pool, TwoRunsFromOnePoolShareNothing) {
    Pool pool({"--size", "1"});
    ASSERT_TRUE(pool.listening()) << pool.first_line();
    TempDir dir;
    std::string first_report = dir.path() + "/first.json", second_report = dir.path() + "/second.json";
    RunResult first = run_caisson({"run", "--pool", pool.socket(), "--report", first_report, "--", "/bin/sh", "-c",
                                   "echo x > /tmp/mark; sleep 1000 & echo left"});
    ASSERT_EQ(first.status, 0) << first.err;
    EXPECT_EQ(first.out, "left\n");
    RunResult second = run_caisson({"run", "--pool", pool.socket(), "--report", second_report, "--", "/bin/sh", "-c",
                                    "cat /tmp/mark 2>&1 || echo no-mark; ls /proc | grep -c '^[0-9]'"});
    ASSERT_EQ(second.status, 0) << second.err;
    EXPECT_NE(second.out.find("no-mark"), std::string::npos) << second.out;
    // init, the shell, ls, grep: nothing of the first run's (its sleep went with its sandbox).
    EXPECT_EQ(second.out.substr(second.out.rfind("no-mark\n") + 8), "4\n") << second.out;
    auto one = read_json(first_report), two = read_json(second_report);
    ASSERT_TRUE(one.contains("cgroup") && two.contains("cgroup")) << one.dump();
    EXPECT_NE(one["cgroup"]["paths"], two["cgroup"]["paths"]) << "each run has a cgroup of its own";
}

TEST(Pool, ARunWhosePolicyIsNotThePoolsIsRefusedNamingWhatDiffers) {
    Pool pool({});
    ASSERT_TRUE(pool.listening()) << pool.first_line();
    RunResult r = run_caisson({"run", "--pool", pool.socket(), "--hostname", "other", "--", "/bin/sh", "-c", "echo ran"});
    EXPECT_EQ(r.status, kExitUsage);
    EXPECT_EQ(r.out, "") << "the program never ran";
    EXPECT_NE(r.err.find("differs from the run's in: hostname"), std::string::npos) << r.err;
    // The pool goes on serving its own policy.
    RunResult ok = run_caisson({"run", "--pool", pool.socket(), "--", "/bin/sh", "-c", "echo ran"});
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_EQ(ok.out, "ran\n");
}

// The environment's settings are the pool's policy too: a pool that scrubs or pins a variable
// serves no run that keeps the caller's environment or sets the variable otherwise (an attack
// run had a pool with --unsetenv and --setenv hand a caller's secrets to the program).
TEST(Pool, ARunThatSetsTheEnvironmentOtherwiseIsRefused) {
    Pool pool({"--unsetenv", "PATH", "--setenv", "POOLVAR=fixed"});
    ASSERT_TRUE(pool.listening()) << pool.first_line();
    const std::vector<std::string> show = {"--", "/usr/bin/env"};
    auto run = [&](std::vector<std::string> args) {
        std::vector<std::string> argv{"run", "--pool", pool.socket()};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), show.begin(), show.end());
        RunOptions o;
        o.env = {"SECRETX=callers"};
        return run_caisson(argv, o);
    };
    for (const auto& args : std::vector<std::vector<std::string>>{{"--keep-env", "--unsetenv", "PATH", "--setenv", "POOLVAR=fixed"},
                                                                   {"--unsetenv", "PATH", "--setenv", "POOLVAR=other"},
                                                                   {"--setenv", "POOLVAR=fixed"}}) {
        RunResult r = run(args);
        EXPECT_EQ(r.status, kExitUsage) << args[0] << " " << args[1];
        EXPECT_EQ(r.out, "") << "the program never ran";
        EXPECT_NE(r.err.find("differs from the run's in: process"), std::string::npos) << r.err;
    }
    RunResult ok = run({"--unsetenv", "PATH", "--setenv", "POOLVAR=fixed"});
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_NE(ok.out.find("POOLVAR=fixed\n"), std::string::npos) << ok.out;
    EXPECT_EQ(ok.out.find("SECRETX"), std::string::npos) << ok.out;
    EXPECT_EQ(ok.out.find("PATH="), std::string::npos) << ok.out;
}

// The comparison covers what a policy file says, not only its name: the same file, edited
// to supervise differently, is another policy. A pool neither learns nor audits.
TEST(Pool, WhatAPolicyFileSaysIsComparedAndLearnAndAuditAreNotServed) {
    TempDir dir;
    std::string policy = write_seccomp_policy(dir, "[[supervise]]\nsyscall = \"clone\"\nmax = 3\n");
    Pool pool({"--seccomp", policy});
    ASSERT_TRUE(pool.listening()) << pool.first_line();
    RunResult same = run_caisson({"run", "--pool", pool.socket(), "--seccomp", policy, "--", "/bin/sh", "-c", "echo \"[$1]\"", "sh", ""});
    EXPECT_EQ(same.status, 0) << same.err;
    EXPECT_EQ(same.out, "[]\n") << "an empty argument is an argument";
    std::ofstream(policy) << "extends = \"default\"\n[[supervise]]\nsyscall = \"clone\"\nmax = 100\n";
    RunResult edited = run_caisson({"run", "--pool", pool.socket(), "--seccomp", policy, "--", "/bin/true"});
    EXPECT_EQ(edited.status, kExitUsage);
    EXPECT_NE(edited.err.find("differs from the run's in: seccomp"), std::string::npos) << edited.err;
    for (const char* flag : {"--learn", "--audit"}) {
        RunResult r = run_caisson({"pool", "--socket", dir.path() + "/l.sock", flag, dir.path() + "/out"});
        EXPECT_EQ(r.status, kExitUsage) << flag;
        EXPECT_NE(r.err.find("no --learn, --audit or --monitor"), std::string::npos) << r.err;
    }
}

TEST(Pool, SignalsReachTheProgramAndTheExitCodeComesBack) {
    Pool pool({});
    ASSERT_TRUE(pool.listening()) << pool.first_line();
    EXPECT_EQ(run_caisson({"run", "--pool", pool.socket(), "--", "/bin/sh", "-c", "exit 7"}).status, 7);
    RunOptions opts;
    opts.on_ready = [](pid_t caisson) { ::kill(caisson, SIGTERM); };
    RunResult r = run_caisson({"run", "--pool", pool.socket(), "--", "/bin/sh", "-c", "echo ready; exec sleep 1000"}, opts);
    EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
    EXPECT_EQ(pool.stop(), 0);
}

std::string own_ns(const char* ns) {
    std::error_code ec;
    return fs::read_symlink(std::string("/proc/self/ns/") + ns, ec).string();
}

// Where a caller stands is checked by the kernel's word, not the caller's: a caller in a
// mount namespace of its own whose /proc/self/ns names the pool's (a tmpfs mounted over
// its /proc/PID/ns, links put there) gets no sandbox. Believed, it would have had one
// outside its own mount namespace, as a program inside another sandbox could ask.
TEST(Pool, ACallerElsewhereIsRefusedWhateverItSaysOfItself) {
    Pool pool({});
    ASSERT_TRUE(pool.listening()) << pool.first_line();
    const std::string mnt = own_ns("mnt"), user = own_ns("user");
    ASSERT_FALSE(mnt.empty());
    RunOptions o;
    o.wrapper = {"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                 "mount -t tmpfs forged /proc/$$/ns && ln -s '" + mnt + "' /proc/$$/ns/mnt && ln -s '" + user +
                     "' /proc/$$/ns/user && exec \"$0\" \"$@\""};
    RunResult r = run_caisson({"run", "--pool", pool.socket(), "--", "/bin/echo", "served"}, o);
    EXPECT_EQ(r.status, kExitUsage) << r.out << r.err;
    EXPECT_EQ(r.out.find("served"), std::string::npos);
    EXPECT_NE(r.err.find("the caller is in another mnt namespace"), std::string::npos) << r.err;
    // Nor does a caller confined without namespaces: no_new_privs is what a Landlock domain
    // or a filter of its own needs, and another process cannot read the domain itself.
    RunOptions nnp;
    nnp.wrapper = {"/usr/bin/setpriv", "--no-new-privs"};
    RunResult confined = run_caisson({"run", "--pool", pool.socket(), "--", "/bin/echo", "served"}, nnp);
    EXPECT_EQ(confined.status, kExitUsage) << confined.out << confined.err;
    EXPECT_NE(confined.err.find("no_new_privs"), std::string::npos) << confined.err;
    // Nor one with a network of its own: its sandbox would be on the pool's.
    RunOptions netns;
    netns.wrapper = {"/usr/bin/unshare", "-n"};
    RunResult other_net = run_caisson({"run", "--pool", pool.socket(), "--", "/bin/echo", "served"}, netns);
    EXPECT_EQ(other_net.status, kExitUsage) << other_net.out << other_net.err;
    EXPECT_NE(other_net.err.find("another net namespace"), std::string::npos) << other_net.err;
    // The pool still serves those that stand where it does.
    EXPECT_EQ(run_caisson({"run", "--pool", pool.socket(), "--", "/bin/true"}).status, 0);
}

// A sandbox whose ids map back to the caller's listens where the caller's pool would be: the
// client hands it nothing (its stdin, its environment) and says why. Here the caller is root
// and the sandbox's root is the host's (--map-host-root), so the uid check alone would pass.
TEST(Pool, ASandboxListeningAtThePoolsPathIsNotThePool) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (a sandbox whose root is the host's)";
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
    TempDir dir;
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    Server fake({caisson_path(), "run", "--map-host-root", "--bind", dir.path(), "/tmp/w", "--", "/usr/bin/python3", "-c",
                 "import socket, sys\n"
                 "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind('/tmp/w/pool.sock'); s.listen()\n"
                 "print('listening on /tmp/w/pool.sock', file=sys.stderr, flush=True)\n"
                 "while True:\n"
                 "    c, _ = s.accept(); c.recv(65536); c.close()\n"});
    ASSERT_NE(fake.first_line().find("listening on"), std::string::npos) << fake.first_line();
    RunResult r = run_caisson({"run", "--pool", dir.path() + "/pool.sock", "--", "/bin/echo", "served"});
    EXPECT_EQ(r.status, kExitUsage) << r.out << r.err;
    EXPECT_NE(r.err.find("another user namespace"), std::string::npos) << r.err;
}

TEST(Pool, BadInputIsNamed) {
    RunResult none = run_caisson({"pool"});
    EXPECT_EQ(none.status, kExitUsage);
    EXPECT_NE(none.err.find("--socket"), std::string::npos) << none.err;
    TempDir dir;
    RunResult command = run_caisson({"pool", "--socket", dir.path() + "/s", "--", "/bin/true"});
    EXPECT_EQ(command.status, kExitUsage);
    EXPECT_NE(command.err.find("takes no command"), std::string::npos) << command.err;
    RunResult tty = run_caisson({"pool", "--socket", dir.path() + "/s", "--tty"});
    EXPECT_EQ(tty.status, kExitUsage);
    EXPECT_NE(tty.err.find("--tty"), std::string::npos) << tty.err;
    // A kept upper layer would carry one run's writes into the next sandbox's.
    RunResult upper = run_caisson({"pool", "--socket", dir.path() + "/s", "--overlay-upper", dir.path()});
    EXPECT_EQ(upper.status, kExitUsage);
    EXPECT_NE(upper.err.find("no --overlay-upper"), std::string::npos) << upper.err;
    RunResult nobody = run_caisson({"run", "--pool", dir.path() + "/nobody.sock", "--", "/bin/true"});
    EXPECT_EQ(nobody.status, kExitUsage);
    EXPECT_NE(nobody.err.find("--pool: connect"), std::string::npos) << nobody.err;
    struct stat st{};
    EXPECT_NE(::lstat((dir.path() + "/s").c_str(), &st), 0) << "nothing left behind";
}

}  // namespace
// firejail's class of root acting on a path another user controls: the pool's socket is in a
// directory whose path its owner swaps for a link once the pool runs. Stopping, the pool
// removes its own socket only, never a file of that name where the link leads.
TEST(Pool, StoppingRemovesItsOwnSocketOnlyWhereverThePathLeads) {
    TempDir base(kUnprivilegedUid), victim;
    const std::string dir = base.path() + "/d";
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    Server pool({caisson_path(), "pool", "--socket", dir + "/pool.sock", "--size", "1"});
    ASSERT_NE(pool.first_line().find("listening on"), std::string::npos) << pool.first_line();
    ASSERT_EQ(::rename(dir.c_str(), (base.path() + "/moved").c_str()), 0);
    ASSERT_EQ(::symlink(victim.path().c_str(), dir.c_str()), 0);
    std::ofstream(victim.path() + "/pool.sock") << "precious\n";
    pool.stop();
    EXPECT_EQ(read_file(victim.path() + "/pool.sock"), "precious\n");
    EXPECT_FALSE(fs::exists(base.path() + "/moved/pool.sock"));
    // Nor is it made through another user's link: that user would choose where root's socket is.
    const std::string link = base.path() + "/link";
    ASSERT_EQ(::symlink(victim.path().c_str(), link.c_str()), 0);
    ASSERT_EQ(::lchown(link.c_str(), kUnprivilegedUid, kUnprivilegedUid), 0);
    Server refused({caisson_path(), "pool", "--socket", link + "/other.sock", "--size", "1"});
    EXPECT_NE(refused.stop(), 0);
    EXPECT_NE(refused.first_line().find("a link of uid " + std::to_string(kUnprivilegedUid) + "'s"), std::string::npos)
        << refused.first_line();
    EXPECT_FALSE(fs::exists(victim.path() + "/other.sock"));
}

}  // namespace caisson::test
