// Start-latency driver: spawns a command many times, from W workers at once, and prints the
// median and 90th percentile of one start (spawn to reaped), the starts per second, and the
// CPU time one start costs the machine: all CPUs' busy time (/proc/stat) over the run,
// divided by the starts. That counts what rusage misses: processes nobody waits for (bwrap's
// outer process exits before its inner one is reaped), and the kernel's deferred work in its
// own threads (a network namespace is dismantled by a kworker after its last process).
// startbench RUNS WORKERS -- COMMAND [ARGS...]
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace {
// Busy ticks of all CPUs: everything but idle and iowait.
long long busy_ticks() {
    std::ifstream stat("/proc/stat");
    std::string line;
    std::getline(stat, line);
    std::istringstream in(line);
    std::string cpu;
    long long v[10] = {}, busy = 0;
    in >> cpu;
    for (int i = 0; i < 10 && in >> v[i]; ++i)
        if (i != 3 && i != 4 && i < 8) busy += v[i];  // user nice system [idle iowait] irq softirq steal
    return busy;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 5 || std::string_view(argv[3]) != "--") {
        std::fprintf(stderr, "usage: startbench RUNS WORKERS -- COMMAND [ARGS...]\n");
        return 2;
    }
    int runs = std::atoi(argv[1]);
    int workers = std::atoi(argv[2]);
    char** cmd = argv + 4;
    std::vector<std::vector<double>> per(static_cast<size_t>(workers));
    std::vector<int> failures(static_cast<size_t>(workers));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    long long busy_before = busy_ticks();
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
        threads.emplace_back([&, w] {
            for (int i = 0; i < runs / workers; ++i) {
                auto t0 = std::chrono::steady_clock::now();
                pid_t pid;
                if (posix_spawn(&pid, cmd[0], &actions, nullptr, cmd, environ) != 0) {
                    ++failures[static_cast<size_t>(w)];
                    continue;
                }
                int st = 0;
                waitpid(pid, &st, 0);
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ++failures[static_cast<size_t>(w)];
                per[static_cast<size_t>(w)].push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            }
        });
    }
    for (auto& t : threads) t.join();
    double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double busy_ms = static_cast<double>(busy_ticks() - busy_before) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
    std::vector<double> all;
    int failed = 0;
    for (size_t w = 0; w < per.size(); ++w) {
        all.insert(all.end(), per[w].begin(), per[w].end());
        failed += failures[w];
    }
    std::sort(all.begin(), all.end());
    double median = all.empty() ? 0 : all[all.size() / 2];
    double p90 = all.empty() ? 0 : all[all.size() * 9 / 10];
    std::printf("{\"runs\": %zu, \"workers\": %d, \"median_ms\": %.3f, \"p90_ms\": %.3f, \"starts_per_s\": %.1f, "
                "\"cpu_ms\": %.3f, \"failed\": %d}\n",
                all.size(), workers, median, p90, static_cast<double>(all.size()) / total_s,
                all.empty() ? 0 : busy_ms / static_cast<double>(all.size()), failed);
    return failed ? 1 : 0;
}
