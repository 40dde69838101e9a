// The per-sandbox BPF LSM programs (src/bpf/sandbox_lsm.bpf.c, built by clang into an
// object embedded in caisson) in the kernel: loaded with libbpf, their maps filled from the
// policy, attached as lsm_cgroup programs to the sandbox's cgroup v2 directory before any
// process is in it; detached when this object goes.
#pragma once

#include <caisson/policy.hpp>
#include <caisson/sandbox.hpp>

#include <memory>
#include <string>

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

private:
    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace caisson::mech
