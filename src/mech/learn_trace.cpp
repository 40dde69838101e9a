#include "mech/learn_trace.hpp"

#include "mech/bpf_object.hpp"

#include "filter/syscall_table.hpp"
#include "policy/learned.hpp"

#include <caisson/error.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace caisson::embedded {
extern const unsigned char learn_trace_object[];
extern const size_t learn_trace_object_size;
}  // namespace caisson::embedded

namespace caisson::mech {
namespace {

enum : uint32_t { kSetCgroup };
struct CallValue {
    uint32_t nr, value;
};


}  // namespace

struct LearnTrace::State {
    BpfObject obj{embedded::learn_trace_object, embedded::learn_trace_object_size, "caisson_learn", "learn mode's BPF programs"};
};

LearnTrace::LearnTrace() : s_(std::make_unique<State>()) {
    s_->obj.load("tracepoints");
    bpf_program* prog;
    bpf_object__for_each_program(prog, s_->obj.get()) {
        s_->obj.keep(bpf_program__attach(prog), prog);
    }
}

LearnTrace::~LearnTrace() = default;

void LearnTrace::watch(int cgroup_fd) {
    // A cgroup v2 directory's id, as bpf_get_current_cgroup_id() returns it, is its inode.
    struct stat st{};
    if (::fstat(cgroup_fd, &st) < 0) throw Error(ErrorKind::Setup, "fstat", "sandbox cgroup", errno);
    uint32_t key = kSetCgroup;
    uint64_t id = st.st_ino;
    s_->obj.update("settings", &key, &id, "sandbox cgroup");
}

void LearnTrace::collect(Outcome& out) const {
    auto seen = [&](const std::string& name) {
        auto at = std::lower_bound(out.syscalls_seen.begin(), out.syscalls_seen.end(), name);
        if (at == out.syscalls_seen.end() || *at != name) out.syscalls_seen.insert(at, name);
    };
    const int calls = s_->obj.map_fd("calls");
    for (uint32_t nr = 0; nr < 512; ++nr) {
        uint8_t v = 0;
        if (bpf_map_lookup_elem(calls, &nr, &v) == 0 && v) seen(filter::syscall_name(seccomp::Abi::X86_64, nr));
    }
    const int values = s_->obj.map_fd("values");
    CallValue key{}, next{};
    const CallValue* prev = nullptr;
    while (bpf_map_get_next_key(values, prev, &next) == 0) {
        auto& set = out.syscall_arg_values[filter::syscall_name(seccomp::Abi::X86_64, next.nr)];
        if (set.size() <= learned::kMaxValues) set.insert(next.value);
        key = next;
        prev = &key;
    }
}

}  // namespace caisson::mech
