// A pooled start as a library caller sees it (issue 19): caisson::run_in_pool, one after
// another from one process, against a bare fork+exec of the same program. It leaves out
// what `caisson run --pool` adds, the start of caisson's own executable, so the two rows
// together say where a pooled start's time goes.
//   pool_call SOCKET RUNS -- PROGRAM [ARGS...]
#include <caisson/policy.hpp>
#include <caisson/pool.hpp>

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5 || std::string_view(argv[3]) != "--") {
        std::fprintf(stderr, "usage: pool_call SOCKET RUNS -- PROGRAM [ARGS...]\n");
        return 2;
    }
    const int runs = std::atoi(argv[2]);
    caisson::Policy policy = caisson::default_policy();
    policy.process.argv.assign(argv + 4, argv + argc);
    std::vector<double> pooled, bare;
    int failed = 0;
    for (int i = 0; i < runs; ++i) {
        auto t0 = Clock::now();
        pid_t pid;
        if (posix_spawn(&pid, argv[4], nullptr, nullptr, argv + 4, environ) != 0) return 1;
        int st = 0;
        waitpid(pid, &st, 0);
        bare.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        t0 = Clock::now();
        try {
            if (caisson::run_in_pool(argv[1], policy).shell_status() != 0) ++failed;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "pool_call: %s\n", e.what());
            return 1;
        }
        pooled.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::printf("{\"runs\": %d, \"bare_ms\": %.3f, \"run_in_pool_ms\": %.3f, \"failed\": %d}\n", runs, median(bare),
                median(pooled), failed);
    return failed ? 1 : 0;
}
