// Capabilities: none in any of the five sets by default, exactly the added ones otherwise.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <linux/capability.h>

namespace caisson::test {
namespace {

uint64_t cap_field(const nlohmann::json& probe, const char* field) {
    return std::stoull(probe["status"][field].get<std::string>(), nullptr, 16);
}

TEST(Capabilities, NoneInAnySetByDefault) {
    // --share-user: the program is the host's nobody, so the kernel's own checks decide;
    // --seccomp none: so that it is the capabilities that refuse, not the filter.
    auto r = run_probe({"--share-user", "--seccomp", "none"},
                       {"--try", "mount", "--try", "chown", "--try", "raw-socket", "--try", "module"});
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) EXPECT_EQ(cap_field(r.probe, set), 0u) << set;
    EXPECT_EQ(r.probe["status"]["NoNewPrivs"], "1");
    EXPECT_EQ(r.probe["tries"]["mount"], "EPERM");
    EXPECT_EQ(r.probe["tries"]["chown"], "EPERM");
    EXPECT_EQ(r.probe["tries"]["raw-socket"], "EPERM");
    // EPERM from the capability check; ENOSYS on a kernel built without modules (this one).
    EXPECT_TRUE(r.probe["tries"]["module"] == "EPERM" || r.probe["tries"]["module"] == "ENOSYS") << r.probe["tries"];
}

TEST(Capabilities, AddedOnesReachTheProgramThroughTheAmbientSet) {
    auto r = run_probe({"--share-user", "--seccomp", "none", "--cap-add", "CAP_CHOWN", "--cap-add", "net_raw"},
                       {"--try", "chown", "--try", "raw-socket", "--try", "mount"});
    ASSERT_EQ(r.status, 0) << r.err;
    uint64_t want = (1ull << CAP_CHOWN) | (1ull << CAP_NET_RAW);
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) EXPECT_EQ(cap_field(r.probe, set), want) << set;
    EXPECT_EQ(r.probe["uid"], kNobodyUid);  // not root, yet it has them
    EXPECT_EQ(r.probe["tries"]["chown"], "ok");
    EXPECT_EQ(r.probe["tries"]["raw-socket"], "ok");
    EXPECT_EQ(r.probe["tries"]["mount"], "EPERM");
}

TEST(Capabilities, DropUndoesAddAndAllDropsEverything) {
    auto r = run_probe({"--cap-add", "ALL", "--cap-drop", "CAP_SYS_ADMIN"});
    ASSERT_EQ(r.status, 0) << r.err;
    uint64_t bnd = cap_field(r.probe, "CapBnd");
    EXPECT_EQ(bnd & (1ull << CAP_SYS_ADMIN), 0u);
    EXPECT_NE(bnd & (1ull << CAP_NET_ADMIN), 0u);
    auto none = run_probe({"--cap-add", "CAP_CHOWN", "--cap-drop", "ALL"});
    ASSERT_EQ(none.status, 0) << none.err;
    EXPECT_EQ(cap_field(none.probe, "CapBnd"), 0u);
}

TEST(Capabilities, UnknownNamesAreRefused) {
    auto r = run_probe({"--cap-add", "CAP_FLY"});
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("--cap-add: unknown capability (e.g. CAP_NET_RAW, CAP_SYS_ADMIN, ALL): CAP_FLY"), std::string::npos)
        << r.err;
}

}  // namespace
}  // namespace caisson::test
