// The secrets of a home, by every name: each path of profiles/home.toml's list, in a home the
// test builds, is hidden with --home; a secret with a second name (a hard link) is refused,
// since a mask hides a name; and a second mount of a hidden home is hidden too.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

namespace caisson::test {
namespace {

// The paths profiles/home.toml hides, as written there.
std::vector<std::string> home_masks() {
    std::string text = read_file(std::string(source_dir()) + "/profiles/home.toml");
    std::string list = text.substr(text.find("home-mask"));
    std::vector<std::string> out;
    std::regex quoted("\"([^\"]+)\"");
    for (auto it = std::sregex_iterator(list.begin(), list.end(), quoted); it != std::sregex_iterator(); ++it)
        out.push_back((*it)[1]);
    return out;
}

// BASE/REL with "secret" in it, the file and the directories made for it owned by `owner`.
// Nothing at or above BASE is touched: BASE is the test's own directory, and above it lie
// /tmp and /var/tmp, which belong to the machine.
void plant(const std::string& base, const std::string& rel, uid_t owner, mode_t mode = 0644) {
    const std::filesystem::path path = std::filesystem::path(base) / rel;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << "secret\n";
    ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
    for (auto p = path; p != std::filesystem::path(base); p = p.parent_path()) {
        ASSERT_TRUE(p.string().size() > base.size()) << p << " is not below " << base;
        ASSERT_EQ(::lchown(p.c_str(), owner, owner), 0) << p;
    }
}

TEST(HomeNames, EveryMaskOfTheListHidesWhatItNames) {
    TempDir home(kUnprivilegedUid);
    const auto masks = home_masks();
    ASSERT_GT(masks.size(), 30u);
    std::vector<std::string> probe_args;
    for (const auto& m : masks) {
        ASSERT_NO_FATAL_FAILURE(plant(home.path(), m, kUnprivilegedUid));
        probe_args.insert(probe_args.end(), {"--read", home.path() + "/" + m});
    }
    ASSERT_NO_FATAL_FAILURE(plant(home.path(), "notes.txt", kUnprivilegedUid));
    probe_args.insert(probe_args.end(), {"--read", home.path() + "/notes.txt"});
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    o.env = {"HOME=" + home.path()};
    RunResult r = run_probe({"--home"}, probe_args, o);
    ASSERT_EQ(r.status, 0) << r.err;
    for (const auto& m : masks) EXPECT_NE(r.probe["reads"][home.path() + "/" + m], "data") << m;
    EXPECT_EQ(r.probe["reads"][home.path() + "/notes.txt"], "data") << "the rest of the home is there";
}

TEST(HomeNames, ASecretWithASecondNameIsRefused) {
    TempDir home(kUnprivilegedUid), elsewhere(kUnprivilegedUid);
    ASSERT_NO_FATAL_FAILURE(plant(home.path(), ".ssh/id_ed25519", kUnprivilegedUid, 0600));
    ASSERT_EQ(::link((home.path() + "/.ssh/id_ed25519").c_str(), (elsewhere.path() + "/key").c_str()), 0);
    RunOptions o;
    o.as_uid = kUnprivilegedUid;
    o.env = {"HOME=" + home.path()};
    RunResult r = run_caisson({"run", "--home", "--", "/bin/true"}, o);
    EXPECT_EQ(r.status, 125);
    EXPECT_NE(r.err.find("id_ed25519 has 2 names (hard links)"), std::string::npos) << r.err;
    ASSERT_EQ(::unlink((elsewhere.path() + "/key").c_str()), 0);
    EXPECT_EQ(run_caisson({"run", "--home", "--", "/bin/true"}, o).status, 0) << "with its one name it runs";
}

// Directories the sandbox sees (its /tmp is its own): beneath /var/tmp, removed at the end.
class VarTmpDir {
public:
    VarTmpDir() {
        char tmpl[] = "/var/tmp/caisson-test-XXXXXX";
        path_ = ::mkdtemp(tmpl) ? tmpl : "";
    }
    ~VarTmpDir() {
        std::error_code ec;
        if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

TEST(HomeNames, ASecondMountOfAHiddenHomeIsHiddenToo) {
    VarTmpDir home, mnt;
    ASSERT_FALSE(home.path().empty());
    ASSERT_FALSE(mnt.path().empty());
    ::chmod(mnt.path().c_str(), 0755);
    ASSERT_NO_FATAL_FAILURE(plant(home.path(), ".ssh/id_rsa", 0));  // 0644: the sandbox's ids could read it, were it there
    ::chmod(home.path().c_str(), 0755);
    ::chmod((home.path() + "/.ssh").c_str(), 0755);
    RunOptions o;
    o.env = {"HOME=" + home.path()};
    // The second mount lives in a mount namespace of this run's only.
    o.wrapper = {"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                 "mount --bind \"$0\" \"$1\" && shift && exec \"$@\"", home.path(), mnt.path()};
    const std::string inside = home.path() + "/.ssh/id_rsa", again = mnt.path() + "/.ssh/id_rsa";
    RunResult shown = run_probe({"--host-homes"}, {"--read", again}, o);
    ASSERT_EQ(shown.status, 0) << shown.err;
    ASSERT_EQ(shown.probe["reads"][again], "data") << "the second mount shows the home";
    RunResult r = run_probe({}, {"--read", inside, "--read", again}, o);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.probe["reads"][inside], "data");
    EXPECT_NE(r.probe["reads"][again], "data") << r.probe["reads"].dump();
}

}  // namespace
}  // namespace caisson::test
