// The per-sandbox BPF LSM programs (src/bpf/sandbox_lsm.bpf.c, built by clang into an
// object embedded in caisson) in the kernel: loaded with libbpf, their maps filled from the
// policy, attached as lsm_cgroup programs to the sandbox's cgroup v2 directory before any
// process is in it; detached when this object goes.
#pragma once

#include <caisson/policy.hpp>
#include <caisson/sandbox.hpp>

#include <memory>
#include <string>
#include <vector>

namespace caisson::mech {

// Whether this kernel runs BPF LSM programs: "bpf" among the active LSMs. Empty when it
// does, else why not.
std::string bpf_lsm_unavailable();

class BpfLsmPrograms {
public:
    // Throws caisson::Error naming the step and errno.
    BpfLsmPrograms(int cgroup_fd, const BpfLsm& policy);
    ~BpfLsmPrograms();
    BpfLsmPrograms(const BpfLsmPrograms&) = delete;
    BpfLsmPrograms& operator=(const BpfLsmPrograms&) = delete;
    BpfLsmReport report() const;
    std::vector<int> link_fds() const;  // see BpfObject::link_fds

private:
    struct State;
    std::unique_ptr<State> s_;
};

// The programs attached to `cgroup_fd` (-1: the sandbox has no cgroup v2 directory), or
// null and in `why` the reason the kernel cannot give them (no cgroup2, no BPF LSM, a
// refused load), for the caller to fail closed or go on in best effort. A bad policy (a
// file that cannot be found) is thrown, as the constructor throws it.
std::unique_ptr<BpfLsmPrograms> attach_bpf_lsm(int cgroup_fd, const BpfLsm& policy, std::string& why);

}  // namespace caisson::mech
