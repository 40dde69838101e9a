// What caisson itself spends on a sandbox's cgroups: creating them (directories, limits,
// the v1 OOM eventfd, the stale-cgroup check) and removing them, without any process, for
// `--memory 256M --pids 64`. Medians of N rounds.
//   cgroup_ops [ROUNDS]
#include "mech/cgroup.hpp"
#include "mech/cgroup_detect.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
    int rounds = argc > 1 ? std::atoi(argv[1]) : 200;
    auto layout = caisson::mech::detect_cgroups();
    caisson::Resources r;
    r.memory = 256ull << 20;
    r.pids = 64;
    auto where = layout.where();
    if (!layout.v2.empty()) {
        where.erase("freezer");
        where.erase("cpuacct");
    }
    auto plan = caisson::cgroup_plan::plan(r, where);
    std::vector<double> create, destroy;
    for (int i = 0; i < rounds; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto cg = caisson::mech::SandboxCgroup::create(layout, plan, "caisson");
        auto t1 = std::chrono::steady_clock::now();
        cg.reset();
        auto t2 = std::chrono::steady_clock::now();
        create.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        destroy.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    std::printf("cgroups (%s) for --memory 256M --pids 64: create %.3f ms, remove %.3f ms (medians of %d)\n",
                layout.mode(), median(create), median(destroy), rounds);
}
