// A bundle for caisson-oci tests: a rootfs holding the static probe and a static busybox,
// and config.json from `caisson-oci spec`, edited per test. Each bundle has its own state
// root, so that nothing a test leaves can be confused with another's.
#pragma once

#include "harness.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace caisson::test {

class Bundle {
public:
    Bundle() {
        namespace fs = std::filesystem;
        rootfs_ = dir_.path() + "/rootfs";
        root_ = dir_.path() + "/state";
        make_mini_rootfs(rootfs_);
        fs::copy_file(BUSYBOX, rootfs_ + "/bin/busybox");
        for (const char* tool : {"sh", "cat", "echo", "sleep", "id", "uname", "ls", "env", "true", "hostname", "domainname", "stat", "touch", "readlink"})
            fs::create_symlink("busybox", rootfs_ + "/bin/" + tool);
        RunResult r = run_oci({"spec", "--bundle", dir_.path()});
        if (r.status != 0) throw std::runtime_error("caisson-oci spec: " + r.err);
        config = read_json(dir_.path() + "/config.json");
        config["process"]["terminal"] = false;
        config["process"]["args"] = {"/probe"};
    }
    ~Bundle() {
        // Whatever a failed test left: the container and its cgroup go with the bundle.
        for (const auto& id : ids_) run_oci({"--root", root_, "delete", "--force", id});
    }
    void save() const {
        std::ofstream(dir_.path() + "/config.json") << config.dump(1);
    }
    const std::string& path() const { return dir_.path(); }
    const std::string& rootfs() const { return rootfs_; }
    const std::string& root() const { return root_; }

    // `caisson-oci --root R CMD ... ID`, with the bundle saved first.
    RunResult oci(const std::string& cmd, std::vector<std::string> args, const std::string& id, RunOptions opts = {}) {
        save();
        ids_.push_back(id);
        std::vector<std::string> all{"--root", root_, cmd};
        all.insert(all.end(), args.begin(), args.end());
        if (!id.empty()) all.push_back(id);
        return run_oci(all, opts);
    }
    // `run` of the probe with these arguments: its report.
    RunResult run(std::vector<std::string> probe_args = {}, const std::string& id = "c") {
        config["process"]["args"] = {"/probe"};
        for (auto& a : probe_args) config["process"]["args"].push_back(a);
        return oci("run", {"--bundle", dir_.path()}, id);
    }
    nlohmann::json config;

private:
    TempDir dir_;
    std::string rootfs_, root_;
    std::vector<std::string> ids_;
};

}  // namespace caisson::test
