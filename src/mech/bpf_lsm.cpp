#include "mech/bpf_lsm.hpp"

#include "mech/bpf_object.hpp"

#include <caisson/error.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

namespace caisson::embedded {
extern const unsigned char sandbox_lsm_object[];
extern const size_t sandbox_lsm_object_size;
}  // namespace caisson::embedded

namespace caisson::mech {
namespace {

// The programs' map layouts (src/bpf/sandbox_lsm.bpf.c).
enum : uint32_t { kSetExecMax, kSetPortsOn };
enum : uint32_t { kSeenExecs, kDeniedExecs, kDeniedOpens, kDeniedConnects };
struct FileId {
    uint64_t dev, ino;
};

}  // namespace

std::string bpf_lsm_unavailable() {
    std::ifstream in("/sys/kernel/security/lsm");
    std::string list;
    if (!std::getline(in, list))
        return "cannot read /sys/kernel/security/lsm (securityfs not mounted) to see whether the kernel runs BPF LSM programs";
    std::istringstream names(list);
    for (std::string name; std::getline(names, name, ',');)
        if (name == "bpf") return "";
    return "this kernel does not run BPF LSM programs (active LSMs: " + list + "; boot with lsm=" + list + ",bpf)";
}

struct BpfLsmPrograms::State {
    BpfObject obj{embedded::sandbox_lsm_object, embedded::sandbox_lsm_object_size, "caisson_lsm", "BPF LSM programs"};
};

BpfLsmPrograms::BpfLsmPrograms(int cgroup_fd, const BpfLsm& policy) : s_(std::make_unique<State>()) {
    // Only the programs the policy needs are loaded: a hook with no rule costs nothing.
    bpf_program* prog;
    bpf_object__for_each_program(prog, s_->obj.get()) {
        std::string name = bpf_program__name(prog);
        bool needed = (name == "caisson_exec" && policy.exec_max) || (name == "caisson_open" && !policy.deny_files.empty()) ||
                      (name == "caisson_connect" && !policy.connect_ports.empty());
        bpf_program__set_autoload(prog, needed);
    }
    s_->obj.load("lsm_cgroup");

    // The program's own start is a load too.
    uint64_t exec_max = policy.exec_max ? *policy.exec_max + 1 : 0, ports_on = policy.connect_ports.empty() ? 0 : 1;
    uint32_t key = kSetExecMax;
    s_->obj.update("settings", &key, &exec_max, "exec max");
    key = kSetPortsOn;
    s_->obj.update("settings", &key, &ports_on, "ports on");
    for (const auto& path : policy.deny_files) {
        struct stat st{};
        if (::stat(path.c_str(), &st) < 0) throw Error(ErrorKind::Usage, "--lsm-deny-file: stat", path, errno);
        // The kernel's own encoding of a device number (MKDEV), which the program reads.
        FileId id{(static_cast<uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev), st.st_ino};
        uint8_t one = 1;
        s_->obj.update("denied_files", &id, &one, path);
    }
    for (uint16_t port : policy.connect_ports) {
        uint8_t one = 1;
        s_->obj.update("allowed_ports", &port, &one, "port " + std::to_string(port));
    }
    bpf_object__for_each_program(prog, s_->obj.get()) {
        if (!bpf_program__autoload(prog)) continue;
        s_->obj.keep(bpf_program__attach_cgroup(prog, cgroup_fd), prog);
    }
}

BpfLsmPrograms::~BpfLsmPrograms() = default;

std::vector<int> BpfLsmPrograms::link_fds() const { return s_->obj.link_fds(); }

BpfLsmReport BpfLsmPrograms::report() const {
    BpfLsmReport r;
    r.applied = true;
    int seen = s_->obj.map_fd("seen");
    auto read = [&](uint32_t key) {
        uint64_t v = 0;
        (void)bpf_map_lookup_elem(seen, &key, &v);
        return v;
    };
    r.execs = read(kSeenExecs);
    r.denied_execs = read(kDeniedExecs);
    r.denied_opens = read(kDeniedOpens);
    r.denied_connects = read(kDeniedConnects);
    return r;
}

std::unique_ptr<BpfLsmPrograms> attach_bpf_lsm(int cgroup_fd, const BpfLsm& policy, std::string& why) {
    why.clear();
    if (cgroup_fd < 0) {
        why = "the BPF LSM programs need a cgroup v2 directory for the sandbox (as root, with a cgroup2 hierarchy mounted)";
        return nullptr;
    }
    std::unique_ptr<BpfLsmPrograms> programs;
    try {
        programs = std::make_unique<BpfLsmPrograms>(cgroup_fd, policy);
        // Loaded and attached, yet run nowhere when "bpf" is not among the active LSMs.
        why = bpf_lsm_unavailable();
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::Usage) throw;
        why = std::string("this kernel refuses BPF LSM programs (") + e.what() + ")";
    }
    if (!why.empty()) programs.reset();
    return programs;
}

}  // namespace caisson::mech
