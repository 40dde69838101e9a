// --monitor: each refusal on caisson's standard error as it happens, one line with what,
// where and which rule; the same as JSON lines with --audit; the totals in the report. The
// program gets the same answers as without it.
#include "harness.hpp"

#include <gtest/gtest.h>

namespace caisson::test {
namespace {

TEST(Monitor, SeccompRefusalsAreSaidAndCountedAndAnsweredAsBefore) {
    TempDir dir;
    const std::string report = dir.path() + "/report.json", audit = dir.path() + "/audit.jsonl";
    RunResult r = run_probe({"--monitor", "--report", report, "--audit", audit}, {"--try", "mount", "--try", "getppid"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["tries"]["mount"], "EPERM");
    EXPECT_NE(r.err.find("caisson: refused mount (pid "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("errno(EPERM), by the seccomp policy"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("getppid"), std::string::npos) << r.err;
    nlohmann::json rep = read_json(report);
    ASSERT_TRUE(rep.contains("refusals")) << rep.dump();
    EXPECT_EQ(rep["refusals"]["seccomp"], 1);
    bool audited = false;
    for (const auto& line : audit_lines(audit)) audited |= line["syscall"] == "mount" && line["decision"] == "errno(EPERM)";
    EXPECT_TRUE(audited) << read_file(audit);

    RunResult quiet = run_probe({"--report", report}, {"--try", "mount"});
    ASSERT_EQ(quiet.status, 0) << quiet.err;
    EXPECT_EQ(quiet.probe["tries"]["mount"], "EPERM");
    EXPECT_EQ(quiet.err.find("refused"), std::string::npos) << quiet.err;
    EXPECT_FALSE(read_json(report).contains("refusals"));
}

TEST(Monitor, EgressRefusalsAreSaidToo) {
    TempDir dir;
    const std::string audit = dir.path() + "/audit.jsonl";
    RunResult r = run_probe({"--monitor", "--audit", audit, "--allow-host", "localhost:1"}, {"--resolve", "evil.invalid"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("caisson: refused dns evil.invalid, by the egress rules (--allow-host)"), std::string::npos) << r.err;
    bool audited = false;
    for (const auto& line : audit_lines(audit)) audited |= line["egress"] == "dns evil.invalid";
    EXPECT_TRUE(audited) << read_file(audit);
}

TEST(Monitor, APoolServesNoMonitor) {
    RunResult r = run_caisson({"run", "--pool", "/nonexistent.sock", "--monitor", "--", "/bin/true"});
    EXPECT_EQ(r.status, 125);  // caisson's own: bad input
    EXPECT_NE(r.err.find("--monitor"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace caisson::test
