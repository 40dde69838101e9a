// The OCI front end's pure parts: config.json parsing and validation, OCI seccomp JSON
// compiled by caisson's compiler and run in the BPF interpreter, linux.resources as cgroup
// writes, mount options and cgroupsPath. No system call; what the kernel does with them is
// in tests/oci/.
#include "filter/bpf_eval.hpp"
#include "filter/seccomp_compiler.hpp"
#include "filter/syscall_table.hpp"
#include "oci/annotations.hpp"
#include "oci/resources.hpp"
#include "oci/rootfs.hpp"
#include "oci/seccomp_json.hpp"
#include "oci/spec.hpp"

#include <caisson/error.hpp>

#include <gtest/gtest.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <sys/mount.h>

namespace caisson::oci {
namespace {

using nlohmann::json;

json minimal() {
    return json{{"ociVersion", "1.2.0"},
                {"root", {{"path", "rootfs"}}},
                {"process", {{"args", {"/bin/true"}}, {"cwd", "/"}, {"user", {{"uid", 0}, {"gid", 0}}}}},
                {"linux", {{"namespaces", {{{"type", "pid"}}, {{"type", "mount"}}}}}}};
}

// The message of the usage error that `f` throws, or "" when it throws none.
template <class F>
std::string usage_error(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::Usage) << e.what();
        return e.what();
    }
    return "";
}

TEST(OciSpec, ParsesTheFieldsIntoTheModel) {
    json j = minimal();
    j["process"]["user"] = {{"uid", 1000}, {"gid", 1001}, {"umask", 18}, {"additionalGids", {5, 6}}};
    j["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 64}, {"hard", 128}}};
    j["hostname"] = "box";
    j["linux"]["namespaces"].push_back({{"type", "uts"}});
    j["mounts"] = {{{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "size=1m"}}}};
    j["linux"]["cgroupsPath"] = "/a/b";
    j["linux"]["resources"] = {{"memory", {{"limit", 268435456}}}, {"pids", {{"limit", 32}}}};
    j["annotations"] = {{"k", "v"}};
    Spec s = parse_spec(j.dump());
    ASSERT_TRUE(s.process);
    EXPECT_EQ(s.process->user.uid, 1000u);
    EXPECT_EQ(s.process->user.umask, 18u);
    EXPECT_EQ(s.process->user.additional_gids, (std::vector<uint32_t>{5, 6}));
    ASSERT_EQ(s.process->rlimits.size(), 1u);
    EXPECT_EQ(s.process->rlimits[0].hard, 128u);
    EXPECT_EQ(s.hostname, "box");
    ASSERT_EQ(s.mounts.size(), 1u);
    EXPECT_EQ(s.mounts[0].options, (std::vector<std::string>{"nosuid", "size=1m"}));
    EXPECT_EQ(s.linux_.namespaces.size(), 3u);
    EXPECT_EQ(s.linux_.cgroups_path, "/a/b");
    ASSERT_TRUE(s.linux_.resources);
    EXPECT_EQ(s.linux_.resources->memory.limit, 268435456);
    EXPECT_EQ(s.linux_.resources->pids_limit, 32);
    EXPECT_EQ(s.annotations.at("k"), "v");
    EXPECT_NO_THROW(validate(s));
}

TEST(OciSpec, ErrorsNameTheFieldOrThePosition) {
    json j = minimal();
    j["process"]["user"]["uid"] = "root";
    EXPECT_NE(usage_error([&] { parse_spec(j.dump()); }).find("process.user.uid"), std::string::npos);
    j = minimal();
    j["mounts"] = {{{"type", "tmpfs"}}};
    EXPECT_NE(usage_error([&] { parse_spec(j.dump()); }).find("mounts[0]: needs a destination"), std::string::npos);
    j = minimal();
    j["hostname"] = "box";
    EXPECT_NE(usage_error([&] { validate(parse_spec(j.dump())); }).find("hostname: needs a new uts namespace"),
              std::string::npos);
    std::string broken = "{\n  \"ociVersion\": \"1.2.0\",\n  \"root\": }";
    std::string msg = usage_error([&] { parse_spec(broken); });
    EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(":3:"), std::string::npos) << "the line of the mistake: " << msg;
}

TEST(OciSpec, WhatCaissonCannotHonourIsRefusedByName) {
    auto refused = [](json j) { return usage_error([&] { validate(parse_spec(j.dump())); }); };
    json j = minimal();
    j["linux"]["intelRdt"] = {{"closID", "x"}};
    EXPECT_NE(refused(j).find("intelRdt"), std::string::npos);
    j = minimal();
    j["linux"]["namespaces"].push_back({{"type", "bogus"}});
    EXPECT_NE(refused(j).find("bogus"), std::string::npos);
    j = minimal();
    j["linux"]["sysctl"] = {{"kernel.panic", "1"}};
    EXPECT_NE(refused(j).find("kernel.panic"), std::string::npos) << "a sysctl of the host, not of a namespace";
    j = minimal();
    j["linux"]["sysctl"] = {{"kernel.shmmni", "1"}, {"net.ipv4.ip_forward", "1"}};
    j["linux"]["namespaces"].push_back({{"type", "ipc"}});
    j["linux"]["namespaces"].push_back({{"type", "network"}});
    EXPECT_EQ(refused(j), "");
    j = minimal();
    j["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    EXPECT_NE(refused(j).find("net.ipv4.ip_forward"), std::string::npos) << "net.* needs its own network namespace";
}

TEST(OciSpec, CapabilitiesByName) {
    EXPECT_EQ(capability_bits({"CAP_CHOWN", "CAP_KILL"}, "f"), (1ull << 0) | (1ull << 5));
    EXPECT_EQ(capability_names(1ull << 10), (std::vector<std::string>{"CAP_NET_BIND_SERVICE"}));
    EXPECT_NE(usage_error([] { capability_bits({"CAP_FLY"}, "process.capabilities.bounding"); })
                  .find("process.capabilities.bounding"),
              std::string::npos);
}

TEST(OciSpec, TheDefaultSpecParsesAndValidates) {
    for (bool rootless : {false, true}) {
        Spec s = parse_spec_json(default_spec(rootless, 1000, 1000));
        EXPECT_NO_THROW(validate(s)) << rootless;
        ASSERT_TRUE(s.process);
        EXPECT_FALSE(s.process->args.empty());
    }
}

// OCI seccomp JSON -> caisson's compiler -> the interpreter.
struct Filter {
    filter::Compiled c;
    uint32_t run(const char* name, std::initializer_list<uint64_t> args = {}) const {
        filter::SeccompInput in;
        in.arch = filter::audit_arch(seccomp::Abi::X86_64);
        in.nr = filter::syscall_number(seccomp::Abi::X86_64, name).value_or(0);
        size_t i = 0;
        for (uint64_t a : args) in.args[i++] = a;
        auto r = filter::evaluate(c.program, in);
        EXPECT_TRUE(r.ok) << r.error;
        return r.action;
    }
};

Filter compile_oci(const json& seccomp, SeccompTranslation* out = nullptr) {
    json j = minimal();
    j["linux"]["seccomp"] = seccomp;
    Spec s = parse_spec(j.dump());
    SeccompTranslation t = translate_seccomp(*s.linux_.seccomp);
    filter::CompileOptions opt;
    opt.allow_multiplexed = true;
    Filter f{filter::compile(t.policy, opt)};
    if (out) *out = t;
    return f;
}

TEST(OciSeccomp, DockerStyleProfileWithArgumentRules) {
    SeccompTranslation t;
    Filter f = compile_oci(
        {{"defaultAction", "SCMP_ACT_ERRNO"},
         {"defaultErrnoRet", 38},
         {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
         {"syscalls",
          {{{"names", {"read", "write", "no_such_syscall_anywhere"}}, {"action", "SCMP_ACT_ALLOW"}},
           {{"names", {"personality"}},
            {"action", "SCMP_ACT_ALLOW"},
            {"args", {{{"index", 0}, {"value", 0}, {"op", "SCMP_CMP_EQ"}}}}},
           {{"names", {"clone"}},
            {"action", "SCMP_ACT_ALLOW"},
            {"args", {{{"index", 0}, {"value", 0x7E020000}, {"valueTwo", 0}, {"op", "SCMP_CMP_MASKED_EQ"}}}}},
           {{"names", {"kill"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}},
        &t);
    EXPECT_EQ(f.run("read"), SECCOMP_RET_ALLOW);
    EXPECT_EQ(f.run("getpid"), SECCOMP_RET_ERRNO | 38u) << "defaultErrnoRet";
    EXPECT_EQ(f.run("personality", {0}), SECCOMP_RET_ALLOW);
    EXPECT_EQ(f.run("personality", {8}), SECCOMP_RET_ERRNO | 38u);
    EXPECT_EQ(f.run("clone", {SIGCHLD}), SECCOMP_RET_ALLOW);
    EXPECT_EQ(f.run("clone", {0x10000000 /* CLONE_NEWUSER */}), SECCOMP_RET_ERRNO | 38u);
    EXPECT_EQ(f.run("kill"), SECCOMP_RET_ERRNO | 1u);
    EXPECT_EQ(t.skipped, (std::vector<std::string>{"no_such_syscall_anywhere"})) << "skipped, as runc does";
    // x32 is admitted because the profile lists SCMP_ARCH_X32, with the same rules.
    filter::SeccompInput x32;
    x32.arch = filter::audit_arch(seccomp::Abi::X86_64);
    x32.nr = 0x40000000u | 0;  // read through x32
    EXPECT_EQ(filter::evaluate(f.c.program, x32).action, SECCOMP_RET_ALLOW);
}

TEST(OciSeccomp, AnAbiTheProfileDoesNotListIsRefused) {
    Filter f = compile_oci({{"defaultAction", "SCMP_ACT_ERRNO"},
                            {"architectures", {"SCMP_ARCH_X86_64"}},
                            {"syscalls", {{{"names", {"read"}}, {"action", "SCMP_ACT_ALLOW"}}}}});
    EXPECT_EQ(f.run("read"), SECCOMP_RET_ALLOW);
    filter::SeccompInput x32;
    x32.arch = filter::audit_arch(seccomp::Abi::X86_64);
    x32.nr = 0x40000000u | 0;  // read through x32: the x32 bit is checked
    EXPECT_NE(filter::evaluate(f.c.program, x32).action, SECCOMP_RET_ALLOW);
    filter::SeccompInput i386;
    i386.arch = filter::audit_arch(seccomp::Abi::I386);
    i386.nr = 3;  // read on i386
    EXPECT_NE(filter::evaluate(f.c.program, i386).action, SECCOMP_RET_ALLOW);
}

TEST(OciSeccomp, FlagsAndNotifyAndBadVocabulary) {
    SeccompTranslation t;
    compile_oci({{"defaultAction", "SCMP_ACT_ALLOW"},
                 {"flags", {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}},
                 {"syscalls", {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_NOTIFY"}}}}},
                &t);
    EXPECT_EQ(t.filter_flags, unsigned(SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW));
    EXPECT_TRUE(t.notify);
    EXPECT_NE(usage_error([] { compile_oci({{"defaultAction", "SCMP_ACT_MAYBE"}}); }).find("SCMP_ACT_MAYBE"),
              std::string::npos);
    EXPECT_NE(usage_error([] {
                  compile_oci({{"defaultAction", "SCMP_ACT_ALLOW"},
                               {"syscalls",
                                {{{"names", {"read"}},
                                  {"action", "SCMP_ACT_ERRNO"},
                                  {"args", {{{"index", 0}, {"value", 1}, {"op", "SCMP_CMP_ROUGHLY"}}}}}}}});
              }).find("SCMP_CMP_ROUGHLY"),
              std::string::npos);
}

std::map<std::string, std::string> writes(const json& resources, cgroup_plan::Version v) {
    json j = minimal();
    j["linux"]["resources"] = resources;
    Spec s = parse_spec(j.dump());
    std::map<std::string, cgroup_plan::Version> where;
    for (const char* c : {"memory", "cpu", "cpuacct", "pids", "blkio", "io", "cpuset", "devices", "freezer", "hugetlb"})
        where[c] = v;
    std::map<std::string, std::string> out;
    for (const auto& w : plan_resources(*s.linux_.resources, where).writes) out[w.file] = w.value;
    return out;
}

TEST(OciResources, EachVersionGetsItsOwnFiles) {
    json r = {{"memory", {{"limit", 268435456}, {"swap", 536870912}}},
              {"cpu", {{"shares", 1024}, {"quota", 50000}, {"period", 100000}}},
              {"pids", {{"limit", 64}}}};
    auto v1 = writes(r, cgroup_plan::Version::V1);
    EXPECT_EQ(v1["memory.limit_in_bytes"], "268435456");
    EXPECT_EQ(v1["memory.memsw.limit_in_bytes"], "536870912");
    EXPECT_EQ(v1["cpu.shares"], "1024");
    EXPECT_EQ(v1["cpu.cfs_quota_us"], "50000");
    EXPECT_EQ(v1["pids.max"], "64");
    auto v2 = writes(r, cgroup_plan::Version::V2);
    EXPECT_EQ(v2["memory.max"], "268435456");
    EXPECT_EQ(v2["memory.swap.max"], "268435456") << "v2's swap is what is beyond memory";
    EXPECT_EQ(v2["cpu.weight"], "39") << "runc's conversion of 1024 shares";
    EXPECT_EQ(v2["cpu.max"], "50000 100000");
    EXPECT_EQ(v2["pids.max"], "64");
}

TEST(OciSeccomp, AnErrnoForAnActionThatReturnsNoneIsAnError) {
    json j = minimal();
    j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                             {"syscalls", {{{"names", {"getpid"}}, {"action", "SCMP_ACT_KILL"}, {"errnoRet", 1}}}}};
    Spec s = parse_spec(j.dump());
    EXPECT_NE(usage_error([&] { translate_seccomp(*s.linux_.seccomp); }).find("errnoRet given for SCMP_ACT_KILL"), std::string::npos);
    j["linux"]["seccomp"]["syscalls"][0]["action"] = "SCMP_ACT_ERRNO";
    Spec ok = parse_spec(j.dump());
    EXPECT_EQ(usage_error([&] { translate_seccomp(*ok.linux_.seccomp); }), "");
}

TEST(OciResources, TranslatedIntoTheOneModelThatCaissonRunPlansWith) {
    json j = minimal();
    j["linux"]["resources"] = {{"memory", {{"limit", -1}, {"swap", -1}}}, {"pids", {{"limit", 0}}},
                               {"cpu", {{"quota", -1}, {"period", 50000}}}};
    Spec s = parse_spec(j.dump());
    caisson::Resources m = translate_resources(*s.linux_.resources);
    EXPECT_EQ(m.memory, kUnlimited);
    EXPECT_EQ(m.memory_swap, kUnlimited);
    EXPECT_EQ(m.pids, kUnlimited) << "0 is no limit, as runc reads it";
    EXPECT_EQ(m.cpu_quota_us, kUnlimited);
    auto v2 = writes(j["linux"]["resources"], cgroup_plan::Version::V2);
    EXPECT_EQ(v2["memory.max"], "max");
    EXPECT_EQ(v2["pids.max"], "max");
    EXPECT_EQ(v2["cpu.max"], "max 50000");
    auto v1 = writes(j["linux"]["resources"], cgroup_plan::Version::V1);
    EXPECT_EQ(v1["memory.limit_in_bytes"], "-1");
    EXPECT_EQ(v1["cpu.cfs_quota_us"], "-1");

    // The same limit from either face is the same plan: `caisson run --memory 64M` and an OCI
    // memory.limit of 64 MiB write the same files (OCI's memory.oom.group only when asked).
    std::map<std::string, cgroup_plan::Version> where = {{"memory", cgroup_plan::Version::V1}};
    caisson::Resources flags;
    flags.memory = 64u << 20;
    json oci = minimal();
    oci["linux"]["resources"] = {{"memory", {{"limit", 64 << 20}}}};
    auto from_flags = cgroup_plan::plan(flags, where).writes;
    auto from_oci = plan_resources(*parse_spec(oci.dump()).linux_.resources, where).writes;
    ASSERT_EQ(from_flags.size(), from_oci.size());
    for (size_t i = 0; i < from_flags.size(); ++i) {
        EXPECT_EQ(from_flags[i].file, from_oci[i].file);
        EXPECT_EQ(from_flags[i].value, from_oci[i].value);
    }
    EXPECT_NE(usage_error([] {
                  json k = minimal();
                  k["linux"]["resources"] = {{"hugepageLimits", {{{"pageSize", "../x"}, {"limit", 1}}}}};
                  writes(k["linux"]["resources"], cgroup_plan::Version::V2);
              }).find("linux.resources.hugepageLimits"),
              std::string::npos);
}

TEST(OciResources, CgroupsPathIsAPathInsideEachHierarchy) {
    EXPECT_EQ(cgroup_location("", "c1"), (std::pair<std::string, std::string>{"caisson", "c1"}));
    EXPECT_EQ(cgroup_location("/kube/pod1/c1", "x"), (std::pair<std::string, std::string>{"kube/pod1", "c1"}));
    EXPECT_EQ(cgroup_location("c1", "x"), (std::pair<std::string, std::string>{"", "c1"}));
    EXPECT_NE(usage_error([] { cgroup_location("/a/../../etc", "x"); }).find(".."), std::string::npos);
    EXPECT_NE(usage_error([] { cgroup_location("system.slice:docker:abc", "x"); }).find("systemd"), std::string::npos);
    EXPECT_NE(usage_error([] { cgroup_location("/", "x"); }).find("root cgroup"), std::string::npos);
}

TEST(OciMountOptions, SortedIntoAttributesPropagationAndData) {
    MountOptions o = parse_mount_options({"rbind", "ro", "nosuid", "nodev", "rslave", "size=1m"}, "mounts[0]");
    EXPECT_TRUE(o.bind);
    EXPECT_TRUE(o.recursive);
    EXPECT_EQ(o.attr_set & (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV),
              static_cast<unsigned long long>(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
    EXPECT_EQ(o.propagation, static_cast<unsigned long long>(MS_SLAVE));
    EXPECT_TRUE(o.propagation_recursive);
    EXPECT_EQ(o.data, (std::vector<std::string>{"size=1m"}));
    MountOptions rw = parse_mount_options({"rw", "suid", "dev", "exec"}, "mounts[1]");
    EXPECT_EQ(rw.attr_set, 0u);
    EXPECT_NE(rw.attr_clear & MOUNT_ATTR_RDONLY, 0u);
    EXPECT_NE(usage_error([] { parse_mount_options({"tmpcopyup"}, "mounts[2]"); }).find("mounts[2]"), std::string::npos);
    EXPECT_EQ(usage_error([] { parse_mount_options({"bind", "idmap"}, "mounts[3]"); }), "") << "idmap is read apart";
}

// A pod's annotations reach its sandbox (pause) container too; Landlock's rules name the
// pod's files, which the pause image lacks, so the sandbox takes the rest and not Landlock.
// A pod cannot pass for a sandbox: each runtime's own type key wins, and the sandbox id must
// be the container's own, which a pod cannot know.
TEST(OciAnnotations, APodsSandboxContainerTakesAllButLandlockAndEgress) {
    const std::string id = "5f1c0ffee";
    std::map<std::string, std::string> a{{"org.caisson.landlock-rx", "/probe"}, {"org.caisson.seccomp", "default"},
                                         {"org.caisson.allow-connect", "10.0.0.0/8:443"}};
    EXPECT_TRUE(caisson_protections(a, 7, id).landlock.has_value());
    EXPECT_TRUE(caisson_protections(a, 7, id).egress.enabled());
    const std::pair<const char*, const char*> runtimes[] = {{"io.kubernetes.cri.container-type", "io.kubernetes.cri.sandbox-id"},
                                                            {"io.kubernetes.cri-o.ContainerType", "io.kubernetes.cri-o.SandboxID"}};
    for (const auto& [type, sandbox_id] : runtimes) {
        auto sandbox = a;
        sandbox[type] = "sandbox";
        sandbox[sandbox_id] = id;
        EXPECT_TRUE(is_pod_sandbox(sandbox, id)) << type;
        CaissonProtections got = caisson_protections(sandbox, 7, id);
        EXPECT_FALSE(got.landlock.has_value()) << type;
        EXPECT_FALSE(got.egress.enabled()) << type << ": pause connects nowhere, and keeps the runtime's NET_RAW";
        EXPECT_FALSE(got.seccomp.empty()) << type << ": the rest still holds";

        auto container = sandbox;
        container[type] = "container";
        EXPECT_FALSE(is_pod_sandbox(container, id)) << type;
        auto elsewhere = sandbox;
        elsewhere[sandbox_id] = "another-id";  // a container of the pod: the sandbox id is not its own
        EXPECT_FALSE(is_pod_sandbox(elsewhere, id)) << type;
        EXPECT_TRUE(caisson_protections(elsewhere, 7, id).landlock.has_value()) << type;
        EXPECT_TRUE(caisson_protections(elsewhere, 7, id).egress.enabled()) << type;
        auto untyped = sandbox;
        untyped.erase(type);
        EXPECT_FALSE(is_pod_sandbox(untyped, id)) << type;
    }
    // The other runtime's key, set by the pod, against the runtime's own "container".
    auto forged = a;
    forged["io.kubernetes.cri.container-type"] = "sandbox";
    forged["io.kubernetes.cri.sandbox-id"] = id;
    forged["io.kubernetes.cri-o.ContainerType"] = "container";
    EXPECT_FALSE(is_pod_sandbox(forged, id));
    EXPECT_FALSE(is_pod_sandbox(forged, ""));
}

}  // namespace
}  // namespace caisson::oci
