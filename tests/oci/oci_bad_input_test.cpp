// Bad bundles and bad requests: runc's words, a non-zero exit, and nothing half-made left
// (no state directory, cgroup or process; the suite's leak check sees mounts).
#include "oci_bundle.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace caisson::test {
namespace {

bool exists(const std::string& p) {
    struct stat st{};
    return ::lstat(p.c_str(), &st) == 0;
}

void expect_nothing_left(const Bundle& b, const std::string& id) {
    EXPECT_FALSE(exists(b.root() + "/" + id)) << "state directory";
    for (const char* c : {"memory", "pids", "freezer", "unified"})
        EXPECT_FALSE(exists(std::string("/sys/fs/cgroup/") + c + "/caisson/" + id)) << c;
}

RunResult create(Bundle& b, const std::string& id) { return b.oci("create", {"--bundle", b.path()}, id); }

// What is in the state root decides whom later commands signal, which cgroups they remove
// and which directory they empty: a root that another user may write, or a symlink, is
// refused, and a symlink in a container's place is never followed (an attack run had
// `delete` empty the directory one led to).
TEST(OciBadInput, AStateRootOthersMayWriteOrASymlinkIsRefused) {
    TempDir dir;
    const std::string open = dir.path() + "/open", link = dir.path() + "/link", root = dir.path() + "/root";
    ASSERT_EQ(::mkdir(open.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(open.c_str(), 0777), 0);
    ASSERT_EQ(::mkdir(root.c_str(), 0700), 0);
    ASSERT_EQ(::symlink(root.c_str(), link.c_str()), 0);
    for (const auto& bad : {open, link}) {
        for (std::vector<std::string> cmd : {std::vector<std::string>{"list"}, {"delete", "--force", "x"}, {"state", "x"}}) {
            std::vector<std::string> args{"--root", bad};
            args.insert(args.end(), cmd.begin(), cmd.end());
            RunResult r = run_oci(args);
            EXPECT_NE(r.status, 0) << bad << " " << cmd[0];
            EXPECT_NE(r.err.find("must be a directory of uid"), std::string::npos) << r.err;
        }
    }
    const std::string victim = dir.path() + "/victim";
    ASSERT_EQ(::mkdir(victim.c_str(), 0700), 0);
    std::ofstream(victim + "/keep.conf") << "x\n";
    ASSERT_EQ(::symlink(victim.c_str(), (root + "/planted").c_str()), 0);
    RunResult d = run_oci({"--root", root, "delete", "--force", "planted"});
    EXPECT_NE(d.status, 0);
    EXPECT_TRUE(exists(victim + "/keep.conf")) << "delete followed a symlink in a container's place";
}

// The directories above the root too: their owner (or anyone, where one is writable and not
// sticky) could exchange a directory on the way between two steps of a command, and an attack
// run had root's `delete` run a poststop hook from a state.json of theirs so. Refused, whatever
// the command, before anything is made there; a root below root's or its own directories, or
// below a sticky one, is taken.
TEST(OciBadInput, AStateRootBelowADirectoryOthersMayRenameIsRefused) {
    TempDir theirs(kUnprivilegedUid), open;
    ASSERT_EQ(::chmod(theirs.path().c_str(), 0755), 0);
    ASSERT_EQ(::chmod(open.path().c_str(), 0777), 0);
    for (const std::string& above : {theirs.path(), open.path()}) {
        const std::string root = above + "/state";
        for (std::vector<std::string> cmd : {std::vector<std::string>{"list"}, {"delete", "--force", "x"}, {"state", "x"}, {"kill", "x"}}) {
            std::vector<std::string> args{"--root", root};
            args.insert(args.end(), cmd.begin(), cmd.end());
            RunResult r = run_oci(args);
            EXPECT_NE(r.status, 0) << above << " " << cmd[0];
            EXPECT_NE(r.err.find(above + " above it must be a directory of root's or uid 0"), std::string::npos) << r.err;
        }
        Bundle b;
        RunResult c = run_oci({"--root", root, "create", "--bundle", b.path(), "x"});
        EXPECT_NE(c.status, 0);
        EXPECT_FALSE(exists(root)) << "nothing made there";
    }
    ASSERT_EQ(::chmod(open.path().c_str(), 01777), 0);
    RunResult sticky = run_oci({"--root", open.path() + "/state", "list"});
    EXPECT_EQ(sticky.status, 0) << sticky.err;
    // There, another user may make the root's name first: theirs is never taken.
    const std::string planted = open.path() + "/planted";
    ASSERT_EQ(::mkdir(planted.c_str(), 0700), 0);
    ASSERT_EQ(::chown(planted.c_str(), kUnprivilegedUid, kUnprivilegedUid), 0);
    RunResult theirs_root = run_oci({"--root", planted, "state", "x"});
    EXPECT_NE(theirs_root.status, 0);
    EXPECT_NE(theirs_root.err.find("it belongs to uid " + std::to_string(kUnprivilegedUid)), std::string::npos) << theirs_root.err;
    // Nor one reached through another user's link, which would choose the directory of root's
    // the commands use.
    TempDir mine;
    const std::string link = open.path() + "/link";
    ASSERT_EQ(::symlink(mine.path().c_str(), link.c_str()), 0);
    ASSERT_EQ(::lchown(link.c_str(), kUnprivilegedUid, kUnprivilegedUid), 0);
    RunResult through = run_oci({"--root", link + "/state", "list"});
    EXPECT_NE(through.status, 0);
    EXPECT_NE(through.err.find("leads through " + link + ", a link of uid " + std::to_string(kUnprivilegedUid)), std::string::npos)
        << through.err;
    // Nor is a path with "..", nor / itself.
    for (const std::string& bad : {open.path() + "/a/../state", std::string("/")}) {
        RunResult r = run_oci({"--root", bad, "list"});
        EXPECT_NE(r.status, 0) << bad;
        EXPECT_NE(r.err.find("--root"), std::string::npos) << r.err;
    }
}

TEST(OciBadInput, ABundleWithoutConfigJson) {
    Bundle b;
    b.save();
    std::filesystem::remove(b.path() + "/config.json");
    RunResult r = run_oci({"--root", b.root(), "create", "--bundle", b.path(), "x"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("config.json: No such file or directory"), std::string::npos) << r.err;
    expect_nothing_left(b, "x");
}

TEST(OciBadInput, MalformedJsonNamesLineAndColumn) {
    Bundle b;
    b.save();
    std::ofstream(b.path() + "/config.json") << "{\n  \"ociVersion\": \"1.2.0\",\n  \"root\": {\"path\": rootfs}\n}\n";
    RunResult r = run_oci({"--root", b.root(), "create", "--bundle", b.path(), "x"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("config.json:3:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("malformed JSON"), std::string::npos) << r.err;
    expect_nothing_left(b, "x");
}

TEST(OciBadInput, AnUnknownNamespaceType) {
    Bundle b;
    b.config["linux"]["namespaces"].push_back({{"type", "bogus"}});
    RunResult r = create(b, "x");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("unknown namespace type \"bogus\""), std::string::npos) << r.err;
    expect_nothing_left(b, "x");
}

// runtime-spec: a namespace type or an rlimit type given twice is an error.
TEST(OciBadInput, ANamespaceOrRlimitTypeGivenTwice) {
    Bundle b;
    b.config["linux"]["namespaces"].push_back({{"type", "pid"}});
    RunResult r = create(b, "x");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("namespace type \"pid\" given twice"), std::string::npos) << r.err;
    b.config["linux"]["namespaces"].erase(b.config["linux"]["namespaces"].size() - 1);
    b.config["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 8}, {"hard", 8}},
                                      {{"type", "RLIMIT_NOFILE"}, {"soft", 9}, {"hard", 9}}};
    RunResult twice = create(b, "y");
    EXPECT_EQ(twice.status, 1);
    EXPECT_NE(twice.err.find("RLIMIT_NOFILE given twice"), std::string::npos) << twice.err;
    for (const char* id : {"x", "y"}) expect_nothing_left(b, id);
}

TEST(OciBadInput, AFieldCaissonCannotHonourIsNamed) {
    Bundle b;
    b.config["linux"]["intelRdt"] = {{"closID", "x"}};
    RunResult r = create(b, "x");
    EXPECT_NE(r.err.find("linux.intelRdt"), std::string::npos) << r.err;
    b.config["linux"].erase("intelRdt");
    b.config["process"]["rlimits"] = {{{"type", "RLIMIT_BOGUS"}, {"soft", 1}, {"hard", 1}}};
    r = create(b, "y");
    EXPECT_NE(r.err.find("process.rlimits[0].type"), std::string::npos) << r.err;
    b.config["process"].erase("rlimits");
    b.config["process"]["capabilities"]["bounding"] = {"CAP_NOPE"};
    r = create(b, "z");
    EXPECT_NE(r.err.find("unknown capability \"CAP_NOPE\""), std::string::npos) << r.err;
    for (const char* id : {"x", "y", "z"}) expect_nothing_left(b, id);
}

TEST(OciBadInput, AnIdInUse) {
    Bundle b;
    ASSERT_EQ(create(b, "dup").status, 0);
    RunResult r = create(b, "dup");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("container with id exists: dup"), std::string::npos) << r.err;
    EXPECT_EQ(nlohmann::json::parse(b.oci("state", {}, "dup").out)["status"], "created") << "the first one is untouched";
    ASSERT_EQ(b.oci("delete", {}, "dup").status, 0);
    expect_nothing_left(b, "dup");
}

TEST(OciBadInput, IdsWithASlashOrDots) {
    Bundle b;
    for (const char* id : {"a/b", "..", "../escape", "."}) {
        RunResult r = create(b, id);
        EXPECT_EQ(r.status, 1) << id;
        EXPECT_NE(r.err.find("invalid container id format"), std::string::npos) << r.err;
    }
    EXPECT_FALSE(exists(b.path() + "/escape"));
    EXPECT_TRUE(!exists(b.root()) || std::filesystem::is_empty(b.root()));
}

TEST(OciBadInput, AContainerThatDoesNotExist) {
    Bundle b;
    for (const char* cmd : {"state", "start", "kill", "delete", "pause", "resume", "ps"}) {
        RunResult r = b.oci(cmd, {}, "ghost");
        EXPECT_EQ(r.status, 1) << cmd;
        EXPECT_NE(r.err.find("does not exist"), std::string::npos) << cmd << ": " << r.err;
    }
    EXPECT_EQ(b.oci("delete", {"--force"}, "ghost").status, 0) << "runc: delete --force of nothing succeeds";
}

TEST(OciBadInput, AMissingProgramFailsCreateWithRuncsWords) {
    Bundle b;
    b.config["process"]["args"] = {"nosuchprogram"};
    RunResult r = create(b, "nf");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("executable file not found in $PATH"), std::string::npos) << r.err;
    expect_nothing_left(b, "nf");
}

TEST(OciBadInput, TheSystemdCgroupDriverIsAClearError) {
    Bundle b;
    b.save();
    RunResult r = run_oci({"--systemd-cgroup", "--root", b.root(), "create", "--bundle", b.path(), "sd"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("--systemd-cgroup"), std::string::npos) << r.err;
    expect_nothing_left(b, "sd");
}

TEST(OciBadInput, BadFlagValuesAreNamedAndEachCommandHasHelp) {
    Bundle b;
    struct Case {
        std::vector<std::string> args;
        const char* says;
    };
    for (const Case& c : std::vector<Case>{
             {{"create", "--preserve-fds", "many", "x"}, "create: --preserve-fds: not a number: \"many\""},
             {{"update", "--memory", "lots", "x"}, "update --memory: not a size"},
             {{"events", "--interval", "0", "x"}, "events: --interval: not a positive number"},
             {{"kill", "x", "99999999999"}, "invalid signal \"99999999999\""},
             {{"kill", "x", "SIGNOPE"}, "unknown signal \"SIGNOPE\""},
             {{"create", "--bogus", "x"}, "create: flag provided but not defined: -bogus"},
             {{"frobnicate", "x"}, "unknown command \"frobnicate\""},
         }) {
        std::vector<std::string> args{"--root", b.root()};
        args.insert(args.end(), c.args.begin(), c.args.end());
        RunResult r = run_oci(args);
        EXPECT_EQ(r.status, 1) << c.args[0];
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    }
    EXPECT_FALSE(exists(b.root() + "/x"));
    RunResult h = run_oci({"exec", "--help"});
    EXPECT_EQ(h.status, 0);
    EXPECT_NE(h.out.find("exec [--process F]"), std::string::npos) << h.out;
}

TEST(OciBadInput, IdmappedMountsThatCannotBe) {
    Bundle b;
    nlohmann::json map = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
    b.config["mounts"].push_back({{"destination", "/data"}, {"type", "bind"}, {"source", "/tmp"}, {"options", {"bind"}},
                                  {"uidMappings", map}, {"gidMappings", map}});
    RunResult r = create(b, "x");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("need the option idmap or ridmap"), std::string::npos) << r.err;
    b.config["mounts"].back() = {{"destination", "/t"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"idmap"}},
                                 {"uidMappings", map}, {"gidMappings", map}};
    r = create(b, "y");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("idmapped mounts are bind mounts"), std::string::npos) << r.err;
    b.config["mounts"].back() = {{"destination", "/data"}, {"type", "bind"}, {"source", "/tmp"}, {"options", {"bind", "idmap"}}};
    r = create(b, "z");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("idmap needs uidMappings and gidMappings"), std::string::npos) << r.err;
    for (const char* id : {"x", "y", "z"}) expect_nothing_left(b, id);
}

}  // namespace
}  // namespace caisson::test
