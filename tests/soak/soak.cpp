// The soak: many sandboxes in a row, on W workers, with random limits and profiles; in a
// share of them the supervisor is SIGKILLed after a random delay (so at a random setup step
// or while the program runs). Afterwards `caisson gc` runs once (a killed supervisor leaves
// its cgroups for it) and nothing may be left: no mount, cgroup, process, namespace or
// other descriptor of ours, file in /tmp.
//   soak CAISSON PROBE RUNS WORKERS [SEED]
#include "host_state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using caisson::test::caisson_cgroups;
using caisson::test::mount_lines;
using caisson::test::tmp_entries;

std::set<std::string> own_fds() {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/proc/self/fd", ec)) out.insert(fs::read_symlink(e.path(), ec).string());
    return out;
}

std::vector<std::string> children() {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator("/proc")) {
        std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(e.path() / "stat");
        std::string s;
        std::getline(stat, s);
        auto close = s.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream f(s.substr(close + 2));
        std::string state;
        int ppid = 0;
        f >> state >> ppid;
        if (ppid == ::getpid()) out.push_back(name + " " + s.substr(0, close + 1));
    }
    return out;
}

struct Counts {
    std::atomic<int> runs{0}, killed{0}, ok{0}, refused{0}, other{0};
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: soak CAISSON PROBE RUNS WORKERS [SEED]\n");
        return 2;
    }
    const std::string caisson = fs::absolute(argv[1]).string(), probe = fs::absolute(argv[2]).string();
    const int runs = std::atoi(argv[3]), workers = std::atoi(argv[4]);
    const unsigned seed = argc > 5 ? static_cast<unsigned>(std::atoi(argv[5])) : std::random_device{}();
    // Orphans of a killed supervisor come to us and are reaped here.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    auto mounts = mount_lines();
    auto tmp = tmp_entries();
    auto groups = caisson_cgroups();
    auto fds = own_fds();

    const std::vector<std::vector<std::string>> options = {
        {},
        {"--memory", "64M"},
        {"--pids", "32"},
        {"--cpus", "0.5", "--memory", "128M", "--pids", "64"},
        {"--cgroup"},
        {"--overlay"},
        {"--seccomp", "none"},
        {"--profile", "judge"},
        {"--landlock-rx", "/"},
        {"--time-limit", "0.02"},
        {"--share-net", "--share-uts"},
        {"--device-deny", "c 1:5 rwm"},
    };
    const std::vector<std::vector<std::string>> programs = {
        {"/bin/true"}, {"/tmp/probe"}, {"/tmp/probe", "--fork", "8"}, {"/bin/sleep", "0.01"}};
    Counts c;
    std::mutex spawn_lock;
    auto worker = [&](unsigned wseed) {
        std::mt19937 rng(wseed);
        while (true) {
            int i = c.runs.fetch_add(1);
            if (i >= runs) break;
            std::vector<std::string> args = {caisson, "run", "--ro-bind", probe, "/tmp/probe"};
            for (int k = rng() % 3; k > 0; --k) {
                const auto& o = options[rng() % options.size()];
                args.insert(args.end(), o.begin(), o.end());
            }
            args.push_back("--");
            const auto& p = programs[rng() % programs.size()];
            args.insert(args.end(), p.begin(), p.end());
            std::vector<char*> argvv;
            for (auto& a : args) argvv.push_back(a.data());
            argvv.push_back(nullptr);
            posix_spawn_file_actions_t fa;
            posix_spawn_file_actions_init(&fa);
            posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
            posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
            pid_t pid;
            int rc;
            {
                std::lock_guard<std::mutex> l(spawn_lock);
                rc = posix_spawn(&pid, caisson.c_str(), &fa, nullptr, argvv.data(), environ);
            }
            posix_spawn_file_actions_destroy(&fa);
            if (rc != 0) {
                ++c.other;
                continue;
            }
            if (rng() % 5 == 0) {
                // Somewhere between preflight and the program's run.
                std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
                ::kill(pid, SIGKILL);
                ++c.killed;
            }
            int st = 0;
            ::waitpid(pid, &st, 0);
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ++c.ok;
            else if (WIFEXITED(st) && WEXITSTATUS(st) == 125) ++c.refused;
            else ++c.other;
        }
    };
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) threads.emplace_back(worker, seed + static_cast<unsigned>(w));
    for (auto& t : threads) t.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // The killed supervisors' sandboxes die with them (parent-death signal): reap what
    // reparented to us, then let gc take their cgroups.
    for (int round = 0; round < 200 && !children().empty(); ++round) {
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::string gc = caisson + " gc > /dev/null";
    int gc_rc = std::system(gc.c_str());

    int leaks = 0;
    for (const auto& m : mount_lines())
        if (!mounts.count(m)) std::printf("leak: mount %s\n", m.c_str()), ++leaks;
    for (const auto& t : tmp_entries())
        if (!tmp.count(t)) std::printf("leak: file %s\n", t.c_str()), ++leaks;
    for (const auto& g : caisson_cgroups())
        if (!groups.count(g)) std::printf("leak: cgroup %s\n", g.c_str()), ++leaks;
    for (const auto& f : own_fds())
        if (!fds.count(f) && f.find("/proc/") == std::string::npos) std::printf("leak: descriptor %s\n", f.c_str()), ++leaks;
    for (const auto& p : children()) std::printf("leak: process %s\n", p.c_str()), ++leaks;
    std::printf("soak: %d sandboxes on %d workers in %.1f s (seed %u): %d ok, %d supervisors SIGKILLed, %d refused, "
                "%d other endings; gc %s; leaks: %d\n",
                runs, workers, secs, seed, c.ok.load(), c.killed.load(), c.refused.load(), c.other.load(),
                gc_rc == 0 ? "ok" : "FAILED", leaks);
    return leaks == 0 && gc_rc == 0 ? 0 : 1;
}
