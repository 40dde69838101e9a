// Landlock: files and TCP ports outside the rules are refused, those inside allowed.
#include "harness.hpp"

#include <gtest/gtest.h>

namespace caisson::test {
namespace {

// The probe needs itself (executable) and nothing else to start: it is static.
const std::vector<std::string> kProbeOnly = {"--landlock-rx", kProbeInside};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST(Landlock, FilesystemRules) {
    auto r = run_probe(with(kProbeOnly, {"--landlock-ro", "/etc", "--landlock-rw", "/tmp/rw", "--dir", "/tmp/rw"}),
                       {"--read", "/etc/hostname", "--read", "/usr/bin/env", "--write", "/tmp/rw/x", "--write",
                        "/tmp/elsewhere"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["reads"]["/etc/hostname"], "data");
    EXPECT_EQ(r.probe["reads"]["/usr/bin/env"], "EACCES");
    EXPECT_EQ(r.probe["writes"]["/tmp/rw/x"], "ok");
    EXPECT_EQ(r.probe["writes"]["/tmp/elsewhere"], "EACCES");
}

TEST(Landlock, ExecutionNeedsRx) {
    // Readable but not executable: the exec itself is refused.
    auto r = run_probe({"--landlock-ro", "/"});
    EXPECT_EQ(r.status, 126) << r.err;
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
}

TEST(Landlock, TcpPorts) {
    auto r = run_probe(with(kProbeOnly, {"--landlock-connect", "2000", "--landlock-bind", "3000"}),
                       {"--connect", "2000", "--connect", "2001", "--bind", "3000", "--bind", "3001"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.probe["connects"]["2000"], "ECONNREFUSED");  // allowed, nobody listens
    EXPECT_EQ(r.probe["connects"]["2001"], "EACCES");
    EXPECT_EQ(r.probe["binds"]["3000"], "ok");
    EXPECT_EQ(r.probe["binds"]["3001"], "EACCES");
    auto none = run_probe({"--landlock-connect", "none"}, {"--connect", "2000"});
    ASSERT_EQ(none.status, 0) << none.err;
    EXPECT_EQ(none.probe["connects"]["2000"], "EACCES");
}

TEST(Landlock, SignalScope) {
    // Init (PID 1) is outside the program's Landlock domain.
    auto scoped = run_probe({"--landlock-scope", "signal"}, {"--call", "62,1,0"});
    ASSERT_EQ(scoped.status, 0) << scoped.err;
    EXPECT_EQ(scoped.probe["calls"]["62,1,0"], "EPERM");
    auto open = run_probe({}, {"--call", "62,1,0"});
    ASSERT_EQ(open.status, 0) << open.err;
    EXPECT_EQ(open.probe["calls"]["62,1,0"], "ok");
}

TEST(Landlock, MissingPathsAreRefusedBeforeStarting) {
    auto r = run_probe({"--landlock-ro", "/no/such/dir"});
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("Landlock path (inside the sandbox): /no/such/dir: No such file or directory"), std::string::npos)
        << r.err;
    auto rel = run_probe({"--landlock-ro", "etc"});
    EXPECT_EQ(rel.status, 125);
    EXPECT_NE(rel.err.find("must be an absolute path"), std::string::npos) << rel.err;
}

}  // namespace
}  // namespace caisson::test
