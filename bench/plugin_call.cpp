// What a plug-in call costs (issue 8): a direct in-process call of the same function
// (dlopen'd here), a call to a warm sandboxed worker with small arguments and with a 1 MB
// buffer, and a call that starts a fresh worker; medians of rounds.
//   plugin_call WORKER PLUGIN [CALLS] [ROUNDS]
#include <caisson/plugin.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double median_us(int calls, int rounds, F&& f) {
    std::vector<double> per;
    for (int r = 0; r < rounds; ++r) {
        auto t0 = Clock::now();
        for (int i = 0; i < calls; ++i) f(i);
        per.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / calls);
    }
    std::sort(per.begin(), per.end());
    return per[per.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: plugin_call WORKER PLUGIN [CALLS] [ROUNDS]\n");
        return 2;
    }
    int calls = argc > 3 ? std::atoi(argv[3]) : 2000;
    int rounds = argc > 4 ? std::atoi(argv[4]) : 5;
    void* h = ::dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    auto add = h ? reinterpret_cast<int64_t (*)(int64_t, int64_t)>(::dlsym(h, "_Z3addll")) : nullptr;
    if (!add) {
        std::fprintf(stderr, "plugin_call: add() not found in %s\n", argv[2]);
        return 1;
    }
    caisson::PluginOptions o;
    o.worker = argv[1];
    o.library = argv[2];
    caisson::Plugin warm(o);
    volatile int64_t sink = 0;
    double direct = median_us(calls * 100, rounds, [&](int i) { sink = add(i, 1); });
    double small = median_us(calls, rounds, [&](int i) { sink = warm.call<int64_t>("add", int64_t{i}, int64_t{1}); });
    caisson::wire::Bytes mb;
    mb.data.resize(1 << 20);
    double big = median_us(std::max(calls / 20, 10), rounds, [&](int) { sink = warm.call<caisson::wire::Bytes>("reverse", mb).data.size(); });
    o.fresh_per_call = true;
    caisson::Plugin fresh(o);
    double cold = median_us(std::max(calls / 100, 10), rounds, [&](int i) { sink = fresh.call<int64_t>("add", int64_t{i}, int64_t{1}); });
    // Calls that come slower than workers start: the standby is ready, the call's own
    // latency is what the caller sees.
    std::vector<double> spaced;
    for (int i = 0; i < std::max(calls / 100, 10) * rounds / 2; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(40));
        auto t0 = Clock::now();
        sink = fresh.call<int64_t>("add", int64_t{i}, int64_t{1});
        spaced.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    std::sort(spaced.begin(), spaced.end());
    double standby = spaced[spaced.size() / 2];
    std::printf("plug-in call, medians of %d rounds                  us/call   x direct\n", rounds);
    std::printf("direct in-process call of add()              %12.4f   %8.0f\n", direct, 1.0);
    std::printf("warm worker, add(int64, int64)               %12.2f   %8.0f\n", small, small / direct);
    std::printf("warm worker, reverse(1 MB buffer)            %12.2f   %8.0f\n", big, big / direct);
    std::printf("fresh worker per call, add(), back to back   %12.2f   %8.0f\n", cold, cold / direct);
    std::printf("fresh worker per call, add(), 40 ms apart    %12.2f   %8.0f\n", standby, standby / direct);
    return 0;
}
