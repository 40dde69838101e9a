// The per-sandbox BPF LSM programs (--lsm-*). Where the kernel does not run them (this
// host: it refuses to load them), a policy with them is refused, or with --lsm-best-effort
// runs and says so. Where it does (the qemu guest, booted with lsm=...,bpf), they enforce:
// an exec past the budget, an open of a denied inode by any name, a connect to a port not
// listed are refused, and the report counts them.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <unistd.h>

namespace caisson::test {
namespace {

bool bpf_lsm_runs() {
    std::ifstream in("/sys/kernel/security/lsm");
    std::string list;
    return std::getline(in, list) && ("," + list + ",").find(",bpf,") != std::string::npos;
}

// In the guest the tests must run, not skip: it is booted for them.
#define REQUIRE_BPF_LSM()                                                                    \
    do {                                                                                     \
        if (!bpf_lsm_runs()) {                                                               \
            if (std::getenv("CAISSON_EXPECT_BPF_LSM")) FAIL() << "the BPF LSM does not run"; \
            GTEST_SKIP() << "this kernel does not run BPF LSM programs (the guest test does)"; \
        }                                                                                    \
    } while (0)

TEST(BpfLsm, RefusedOrReportedWhereTheKernelDoesNotRunThem) {
    if (bpf_lsm_runs()) GTEST_SKIP() << "this kernel runs them";
    expect_refused({"--lsm-exec-max", "1"}, "--lsm-*: ");
    TempDir dir;
    std::string report = dir.path() + "/report.json";
    RunResult r = run_probe({"--lsm-exec-max", "1", "--lsm-best-effort", "--report", report}, {});
    ASSERT_EQ(r.status, 0) << r.err;
    auto j = read_json(report);
    EXPECT_EQ(j["bpf_lsm"]["applied"], false) << j.dump();
    bool said = false;
    for (const auto& n : j["not_enforced"]) said |= n.get<std::string>().starts_with("bpf-lsm: ");
    EXPECT_TRUE(said) << j.dump();
}

TEST(BpfLsm, BadRulesAreRefused) {
    expect_refused({"--lsm-deny-file", "/no/such/file"}, "--lsm-deny-file: stat: /no/such/file");
    expect_refused({"--lsm-connect-port", "70000"}, "--lsm-connect-port: '70000' is not a port");
    expect_refused({"--lsm-exec-max", "-1"}, "--lsm-exec-max: '-1' is not a count");
}

TEST(BpfLsm, ExecsPastTheBudgetAreRefused) {
    REQUIRE_BPF_LSM();
    TempDir dir;
    std::string report = dir.path() + "/report.json";
    RunResult r = run_caisson({"run", "--lsm-exec-max", "1", "--report", report, "--", "/bin/busybox", "sh", "-c",
                               "/bin/busybox true && echo first; /bin/busybox true || echo second-refused"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "first\nsecond-refused\n");
    auto j = read_json(report);
    EXPECT_EQ(j["bpf_lsm"]["applied"], true) << j.dump();
    EXPECT_EQ(j["bpf_lsm"]["execs"], 2) << j.dump();  // the shell, then one
    EXPECT_EQ(j["bpf_lsm"]["denied_execs"], 1) << j.dump();
}

TEST(BpfLsm, ADeniedInodeCannotBeOpenedByAnyName) {
    REQUIRE_BPF_LSM();
    TempDir dir;
    std::ofstream(dir.path() + "/secret") << "secret";
    std::ofstream(dir.path() + "/open") << "open";
    ASSERT_EQ(::link((dir.path() + "/secret").c_str(), (dir.path() + "/alias").c_str()), 0);
    std::string report = dir.path() + "/report.json";
    RunResult r = run_probe({"--lsm-deny-file", dir.path() + "/secret", "--ro-bind", dir.path(), "/tmp/d", "--report", report},
                            {"--read", "/tmp/d/secret", "--read", "/tmp/d/alias", "--read", "/tmp/d/open"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"]["/tmp/d/secret"], "EPERM");
    EXPECT_EQ(r.probe["reads"]["/tmp/d/alias"], "EPERM");  // a hard link is the same inode
    EXPECT_EQ(r.probe["reads"]["/tmp/d/open"], "data");
    EXPECT_EQ(read_json(report)["bpf_lsm"]["denied_opens"], 2);
}

TEST(BpfLsm, ConnectsToOtherPortsAreRefused) {
    REQUIRE_BPF_LSM();
    TempDir dir;
    std::string report = dir.path() + "/report.json";
    // Nothing listens: an allowed port is refused by the peer, another by the LSM.
    RunResult r = run_probe({"--lsm-connect-port", "7000", "--report", report},
                            {"--dial", "tcp:127.0.0.1:7000", "--dial", "tcp:127.0.0.1:7001", "--dial", "tcp:[::1]:7001"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["dials"]["tcp:127.0.0.1:7000"], "ECONNREFUSED");
    EXPECT_EQ(r.probe["dials"]["tcp:127.0.0.1:7001"], "EPERM");
    EXPECT_EQ(r.probe["dials"]["tcp:[::1]:7001"], "EPERM");
    EXPECT_EQ(read_json(report)["bpf_lsm"]["denied_connects"], 2);
}

}  // namespace
}  // namespace caisson::test
