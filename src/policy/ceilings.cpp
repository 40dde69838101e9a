#include "policy/ceilings.hpp"

#include "policy/values.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace caisson::ceilings {
namespace {

bool has_rlimit(const std::vector<Rlimit>& rl, int resource) {
    return std::any_of(rl.begin(), rl.end(), [&](const Rlimit& r) { return r.resource == resource; });
}

std::string size_text(uint64_t v) {
    if (v % (1ull << 30) == 0) return std::to_string(v >> 30) + "G";
    if (v % (1ull << 20) == 0) return std::to_string(v >> 20) + "M";
    return std::to_string(v);
}

}  // namespace

bool want_cgroup(const Policy& p) {
    return (p.ceilings.pids && !p.resources.pids) || (p.ceilings.memory && !p.resources.memory && !p.resources.memory_swap);
}

Plan plan(const Policy& p, const std::set<std::string>& controllers, bool own_userns) {
    Plan out;
    out.resources = p.resources;
    out.rlimits = p.process.rlimits;
    const Ceilings& c = p.ceilings;
    auto rlimit = [&](int resource, uint64_t value) {
        if (!has_rlimit(out.rlimits, resource)) out.rlimits.push_back({resource, value, value});
    };
    if (c.pids && !p.resources.pids) {
        if (controllers.count("pids")) {
            out.resources.pids = c.pids;
            out.held.push_back("pids " + std::to_string(*c.pids) + " (cgroup)");
        } else {
            // Counted per user namespace since Linux 5.14: the sandbox's own processes only.
            rlimit(RLIMIT_NPROC, *c.pids);
            out.held.push_back("pids " + std::to_string(*c.pids) + " (RLIMIT_NPROC, " +
                               (own_userns ? "this sandbox's processes" : "every process of the host uid") + ": no cgroup)");
        }
    }
    // --memory-swap alone is the user's mistake to hear about ("needs --memory"), not a
    // ceiling to complete.
    if (c.memory && !p.resources.memory && !p.resources.memory_swap) {
        if (controllers.count("memory")) {
            out.resources.memory = c.memory;
            out.held.push_back("memory " + size_text(*c.memory) + " (cgroup)");
        } else {
            rlimit(RLIMIT_AS, *c.memory);
            out.held.push_back("memory " + size_text(*c.memory) + " per process (RLIMIT_AS: no cgroup for a total)");
        }
    }
    if (c.open_files && !has_rlimit(out.rlimits, RLIMIT_NOFILE)) {
        rlimit(RLIMIT_NOFILE, *c.open_files);
        out.held.push_back("open files " + std::to_string(*c.open_files) + " per process (RLIMIT_NOFILE)");
    }
    if (own_userns) {
        if (c.inotify_instances) {
            out.userns_limits.emplace_back("max_inotify_instances", *c.inotify_instances);
            out.held.push_back("inotify instances " + std::to_string(*c.inotify_instances) + " (user namespace)");
        }
        if (c.inotify_watches) {
            out.userns_limits.emplace_back("max_inotify_watches", *c.inotify_watches);
            out.held.push_back("inotify watches " + std::to_string(*c.inotify_watches) + " (user namespace)");
        }
    }
    return out;
}

}  // namespace caisson::ceilings
