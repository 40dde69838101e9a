// [[supervise]] rules: the supervisor decides calls with state. The N+1th fork fails, an
// execve after the allowed ones fails, the policy's own rules still refuse what they refuse,
// every decision is in the audit file, and a killed supervisor takes the sandbox along.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <sstream>

namespace caisson::test {
namespace {

// The supervisor decides on a thread of its own waiting in the kernel (run/notify_thread)
// where the sandbox has its own pid namespace, and in its poll loop without one: both ways.
class SuperviseLoop : public ::testing::TestWithParam<std::vector<std::string>> {
protected:
    std::vector<std::string> with(std::vector<std::string> args) {
        args.insert(args.begin(), GetParam().begin(), GetParam().end());
        return args;
    }
};

TEST_P(SuperviseLoop, TheForkAfterTheBudgetIsRefused) {
    TempDir dir;
    std::string policy = write_seccomp_policy(dir, R"P(
[[supervise]]
syscall = ["fork", "vfork", "clone", "clone3"]
max = 3
then = "errno(EAGAIN)"
)P");
    std::string audit = dir.path() + "/audit.jsonl";
    RunResult r = run_probe(with({"--seccomp", policy, "--audit", audit}), {"--fork", "5"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["fork"]["made"], 3);
    EXPECT_EQ(r.probe["fork"]["error"], "EAGAIN");
    auto lines = audit_lines(audit);
    int allowed = 0, refused = 0;
    for (const auto& l : lines) {
        if (l["syscall"] != "clone" && l["syscall"] != "clone3" && l["syscall"] != "fork") continue;
        if (l["decision"] == "allow") ++allowed;
        if (l["decision"] == "errno(EAGAIN)") {
            ++refused;
            EXPECT_EQ(l["why"], "max 3 reached");
            EXPECT_NE(l["rule"].get<std::string>().find("policy.toml:3:"), std::string::npos) << l.dump();
        }
    }
    EXPECT_EQ(allowed, 3);
    EXPECT_EQ(refused, 1);
}

// A budget whose end is kill-process: the call past it ends the sandbox as the kernel's own
// kill would (SIGSYS), and the report names the call.
TEST_P(SuperviseLoop, AKillAtTheEndOfABudgetEndsTheSandboxAndIsReported) {
    TempDir dir;
    std::string policy = write_seccomp_policy(dir, "[[supervise]]\nsyscall = [\"clone\", \"clone3\"]\nmax = 2\nthen = \"kill-process\"\n");
    std::string report = dir.path() + "/r.json";
    RunResult r = run_probe(with({"--seccomp", policy, "--report", report}), {"--fork", "5"});
    EXPECT_EQ(r.status, 128 + SIGSYS) << r.err;
    auto j = read_json(report);
    ASSERT_TRUE(j.contains("seccomp_violation")) << j.dump();
    EXPECT_NE(j["seccomp_violation"].dump().find("clone"), std::string::npos) << j.dump();
}

// The audit holds every decision or the sandbox ends: a size limit on the file (or a full
// disk) stops the run with an error naming it, rather than let the calls after it go
// unrecorded.
TEST_P(SuperviseLoop, AnAuditThatCannotBeWrittenEndsTheSandbox) {
    TempDir dir;
    std::string policy = write_seccomp_policy(dir, "[[supervise]]\nsyscall = [\"clone\", \"clone3\"]\nmax = 100\n");
    std::string audit = dir.path() + "/audit.jsonl";
    RunOptions o;
    o.wrapper = {"/usr/bin/prlimit", "--fsize=300"};
    RunResult r = run_probe(with({"--seccomp", policy, "--audit", audit}), {"--fork", "8"}, o);
    EXPECT_EQ(r.status, 125) << r.err;
    EXPECT_NE(r.err.find("write the audit line: --audit:"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(ThreadAndPoll, SuperviseLoop,
                         ::testing::Values(std::vector<std::string>{}, std::vector<std::string>{"--share-pid"}),
                         [](const auto& info) { return info.param.empty() ? std::string("OwnPidNamespace") : std::string("SharedPids"); });

TEST(Supervise, AnExecveBeyondTheAllowedOnesFails) {
    TempDir dir;
    // The program's own start is not counted: one more execve, then none.
    std::string policy = write_seccomp_policy(dir, "[[supervise]]\nsyscall = \"execve\"\nmax = 1\n");
    RunResult once = run_caisson({"run", "--seccomp", policy, "--", "/bin/busybox", "sh", "-c", "/bin/busybox true && echo first-ok"});
    EXPECT_EQ(once.status, 0) << once.err;
    EXPECT_EQ(once.out, "first-ok\n");
    RunResult twice = run_caisson({"run", "--seccomp", policy, "--", "/bin/busybox", "sh", "-c",
                                   "/bin/busybox true; exec /bin/busybox echo second"});
    EXPECT_EQ(twice.status, 126) << twice.out << twice.err;
    EXPECT_EQ(twice.out.find("second"), std::string::npos);
    EXPECT_NE(twice.err.find("Operation not permitted"), std::string::npos) << twice.err;
}

TEST(Supervise, ThePolicysOwnRulesStillDecide) {
    TempDir dir;
    // The default policy refuses mount: a budget for it lets nothing through.
    std::string policy = write_seccomp_policy(dir, "[[supervise]]\nsyscall = \"mount\"\nmax = 10\n");
    std::string audit = dir.path() + "/audit.jsonl";
    RunResult r = run_probe({"--seccomp", policy, "--audit", audit}, {"--try", "mount"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["tries"]["mount"], "EPERM");
    bool seen = false;
    for (const auto& l : audit_lines(audit)) seen |= l["syscall"] == "mount" && l["decision"] == "errno(EPERM)";
    EXPECT_TRUE(seen) << read_file(audit);
}

TEST(Supervise, AKilledSupervisorTakesTheSandboxAlong) {
    TempDir dir;
    std::string policy = write_seccomp_policy(dir, "[[supervise]]\nsyscall = [\"clone\", \"clone3\"]\nmax = 100\n");
    KilledSupervisor killed;
    RunOptions opts;
    opts.on_ready = [&](pid_t caisson) { killed.kill(caisson); };
    // The run returns only once the sandbox's end of stdout is closed: every process in it is gone.
    RunResult r = run_probe({"--seccomp", policy}, {"--wait-signal"}, opts);
    EXPECT_EQ(r.status, 128 + SIGKILL);
    killed.collect();
}

TEST(Supervise, PolicyCheckShowsTheEntries) {
    TempDir dir;
    std::string policy = write_seccomp_policy(dir, R"P([[supervise]]
syscall = ["clone", "clone3"]
max = 3
then = "errno(EAGAIN)"
[[supervise]]
syscall = "socket"
before = "execve"
[[supervise]]
syscall = "connect"
rate = 2.5
)P");
    RunResult r = run_caisson({"policy", "check", policy});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("  clone, clone3: max 3, then errno(EAGAIN) (" + policy + ":2:1)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  socket: only before execve, then errno(EPERM) (" + policy + ":6:1)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  connect: rate 2.5/s, then errno(EPERM)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("no warnings"), std::string::npos) << r.out << r.err;  // the policy's own rules still apply
}

TEST(Supervise, BadRulesAreRefusedWithTheirPlace) {
    TempDir dir;
    struct Case {
        std::string text, message;
    } cases[] = {
        {"[[supervise]]\nsyscall = \"clone\"\n", "policy.toml:2:1: [[supervise]] needs a condition (max, rate, before or after)"},
        {"[[supervise]]\nsyscall = \"clone\"\nmax = -1\n", "'max' is a count, 0 or more"},
        {"[[supervise]]\nsyscall = \"clone\"\nmax = 1\nthen = \"allow\"\n", "'then' is errno(N) or kill-process"},
        {"[[supervise]]\nsyscall = \"clone\"\nmax = 1\ncolour = 2\n", "unknown key 'colour' in [[supervise]]"},
        {"[[supervise]]\nsyscall = \"no_such_call\"\nmax = 1\n", "policy.toml:2:1: unknown system call 'no_such_call'"},
    };
    for (const auto& c : cases) {
        std::string policy = write_seccomp_policy(dir, c.text);
        expect_refused({"--seccomp", policy}, c.message);
    }
}

}  // namespace
}  // namespace caisson::test
