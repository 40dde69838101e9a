// ns per system call under seccomp, side by side in one run: no filter; caisson's program
// and libseccomp's (optimize level 2) for the same policy, a Docker-like allowlist (the
// allow list of caisson's `default`), with getppid decided (a) by number, (b) on an
// argument. Each variant runs in a fresh child (filters cannot be removed); rounds
// alternate so that drift hits all alike; medians.
//   seccomp_cost [CALLS_PER_RUN (2M)] [ROUNDS (11)] [ONLY: run the variants named so]
#include "filter/seccomp_compiler.hpp"
#include "policy/seccomp_profile.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

using caisson::seccomp::Policy;

// The allow list of the built-in default, plus getppid decided by number or by arg0 == 0.
Policy bench_policy(bool by_argument) {
    Policy full = caisson::seccomp_profile::load("default");
    Policy p;
    p.mode = caisson::seccomp::Mode::Filter;
    p.name = by_argument ? "allowlist+getppid(arg0==0)" : "allowlist";
    p.default_action = full.default_action;
    p.abis = full.abis;
    caisson::seccomp::Rule getppid;
    getppid.syscalls = {"getppid"};
    getppid.origin = "bench";
    if (by_argument) {
        getppid.conditional = true;
        getppid.when.kind = caisson::seccomp::Expr::Kind::Cmp;
        getppid.when.arg = 0;
        getppid.when.value = 0;
    }
    p.rules.push_back(getppid);
    for (const auto& r : full.rules) {
        if (r.conditional || r.action.kind != caisson::seccomp::ActionKind::Allow) continue;
        for (const auto& name : r.syscalls) {
            if (name == "getppid") continue;
            caisson::seccomp::Rule one = r;
            one.syscalls = {name};
            p.rules.push_back(one);
        }
    }
    return p;
}

std::vector<sock_filter> libseccomp_program(const Policy& p) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(1));
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (const auto& r : p.rules) {
        int nr = seccomp_syscall_resolve_name(r.syscalls[0].c_str());
        if (r.conditional) seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, r.when.value));
        else seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    }
    int fd = ::memfd_create("bench", MFD_CLOEXEC);
    seccomp_export_bpf(ctx, fd);
    off_t len = ::lseek(fd, 0, SEEK_END);
    std::vector<sock_filter> out(static_cast<size_t>(len) / sizeof(sock_filter));
    if (::pread(fd, out.data(), static_cast<size_t>(len), 0) != len) std::abort();
    ::close(fd);
    seccomp_release(ctx);
    return out;
}

// ns per getppid() in a child that installed `program` (none when empty).
double measure(const std::vector<sock_filter>& program, long calls) {
    int fds[2];
    if (::pipe(fds) < 0) std::abort();
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        if (!program.empty()) {
            sock_fprog prog{static_cast<unsigned short>(program.size()), const_cast<sock_filter*>(program.data())};
            if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                ::_exit(1);
        }
        for (long i = 0; i < calls / 10; ++i) ::syscall(SYS_getppid, 0);  // warm up
        auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < calls; ++i) ::syscall(SYS_getppid, 0);
        double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / calls;
        (void)!::write(fds[1], &ns, sizeof(ns));
        ::_exit(0);
    }
    ::close(fds[1]);
    double ns = -1;
    if (::read(fds[0], &ns, sizeof(ns)) != sizeof(ns)) ns = -1;
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return ns;
}

}  // namespace

std::string peer_of(const std::string& name) {
    if (name.rfind("caisson", 0) == 0) return "libseccomp" + name.substr(7);
    if (name.rfind("libseccomp", 0) == 0) return "caisson" + name.substr(10);
    return name;
}

int main(int argc, char** argv) {
    long calls = argc > 1 ? std::atol(argv[1]) : 2'000'000;
    int rounds = argc > 2 ? std::atoi(argv[2]) : 11;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    ::sched_setaffinity(0, sizeof(one), &one);  // the same CPU for every variant

    Policy number = bench_policy(false), argument = bench_policy(true);
    std::vector<std::pair<std::string, std::vector<sock_filter>>> variants = {
        {"none", {}},
        {"caisson, by number", caisson::filter::compile(number).program},
        {"libseccomp, by number", libseccomp_program(number)},
        {"caisson, on an argument", caisson::filter::compile(argument).program},
        {"libseccomp, on an argument", libseccomp_program(argument)},
        // The floor whenever a filter runs at all: load one argument, allow.
        {"floor: load arg0, allow", {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 16), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)}},
    };
    std::map<std::string, std::vector<double>> ns;
    for (int r = 0; r < rounds; ++r)
        for (const auto& [name, prog] : variants)
            if (argc <= 3 || name == "none" || name.find(argv[3]) != std::string::npos)
                ns[name].push_back(measure(prog, calls));
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    double none = median(ns["none"]);
    std::printf("ns per getppid(), %ld calls per run, median of %d runs, same CPU\n", calls, rounds);
    std::printf("%-28s %6s %9s %8s %11s\n", "filter", "insns", "ns/call", "over", "x_libseccomp");
    for (const auto& [name, prog] : variants) {
        if (ns[name].empty()) continue;
        double m = median(ns[name]);
        std::string peer = name.rfind("caisson", 0) == 0 ? peer_of(name) : "";
        double ratio = peer.empty() || ns[peer].empty() ? 0 : (m - none) / (median(ns[peer]) - none);
        std::printf("%-28s %6zu %9.1f %+8.1f", name.c_str(), prog.size(), m, m - none);
        if (!peer.empty() && !ns[peer].empty()) std::printf(" %11.2f", ratio);
        std::printf("\n");
    }
    if (ns["floor: load arg0, allow"].empty() || ns["caisson, on an argument"].empty() ||
        ns["libseccomp, on an argument"].empty())
        return 0;
    double floor = median(ns["floor: load arg0, allow"]) - none;
    double ours = median(ns["caisson, on an argument"]) - none, theirs = median(ns["libseccomp, on an argument"]) - none;
    std::printf("(x_libseccomp: caisson's cost over no filter divided by libseccomp's)\n");
    std::printf("on an argument, above the floor: caisson %+.1f ns, libseccomp %+.1f ns (%.2fx)\n", ours - floor,
                theirs - floor, (ours - floor) / (theirs - floor));
}
