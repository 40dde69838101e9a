// caisson's own protections for an OCI container, asked for by annotations (a pod's reach
// them through the runtime handler's pod_annotations/container_annotations):
//
//   org.caisson.profile          a profile NAME, from $CAISSON_PROFILE_PATH, then /etc/caisson/profiles
//                                (the admin's: no key of the pod's mixes with it)
//   org.caisson.KEY              a setting of `caisson run` (its flag's name), for a repeatable
//                                one a comma-separated list: landlock-ro, landlock-rx,
//                                landlock-rw, landlock-bind, landlock-connect, landlock-scope,
//                                landlock-best-effort, seccomp, allow-connect, deny-private,
//                                lsm-exec-max, lsm-connect-port, lsm-best-effort
//
// Annotations only add: Landlock in the container's process and caisson's seccomp policy
// stacked on the config's filter (both taken just before exec), the egress filter on the
// container's cgroup. They set no_new_privs
// (Landlock and a second filter need it once capabilities are gone). Anything a profile or a
// key would change beyond these is refused, naming it: config.json decides the rest.
// `[[supervise]]` rules of a seccomp policy are decided, and the BPF LSM programs (lsm-*, but
// not lsm-deny-file, which names host files) held, by caisson's monitor, which create
// leaves beside the container (run/container_monitor). Pure translation into caisson's own
// model and planners (policy, filter).
#pragma once

#include "policy/landlock_rights.hpp"

#include <caisson/policy.hpp>

#include <linux/filter.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace caisson::oci {

inline constexpr const char* kAnnotationPrefix = "org.caisson.";

struct CaissonProtections {
    std::optional<landlock_rights::Plan> landlock;
    std::vector<sock_filter> seccomp;  // stacked after the config's; kills by the kernel's own action
    std::string seccomp_name;
    // [[supervise]] rules: `seccomp` sends their calls to caisson's monitor, which decides on
    // them with the policy compiled as itself (`seccomp_truth`).
    std::vector<sock_filter> seccomp_truth;
    std::vector<seccomp::Supervised> supervised;
    Egress egress;
    // BPF LSM programs on the container's cgroup, held by the monitor for its life.
    BpfLsm bpf_lsm;
    bool any() const { return landlock || !seccomp.empty() || egress.enabled() || bpf_lsm.enabled(); }
    bool needs_monitor() const { return !supervised.empty() || bpf_lsm.enabled(); }
};

// A Kubernetes pod's sandbox (pause) container, as containerd and CRI-O mark it: every
// runtime type key present says "sandbox", and the runtime's own sandbox id is the
// container's own id (which a pod's annotations cannot know in advance).
bool is_pod_sandbox(const std::map<std::string, std::string>& annotations, const std::string& container_id);

// Throws caisson::Error (usage) naming the annotation. `landlock_abi`: the kernel's version.
// A pod's sandbox container gets no Landlock (its rules name the pod's files, not the pause
// image's); the rest it gets as the pod's containers do.
CaissonProtections caisson_protections(const std::map<std::string, std::string>& annotations, int landlock_abi,
                                       const std::string& container_id);

}  // namespace caisson::oci
