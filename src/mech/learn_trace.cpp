#include "mech/learn_trace.hpp"

#include "filter/syscall_table.hpp"
#include "policy/learned.hpp"

#include <caisson/error.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
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

int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

int map_fd(bpf_object* obj, const char* name) {
    bpf_map* m = bpf_object__find_map_by_name(obj, name);
    if (!m) throw Error(ErrorKind::Setup, "find BPF map", name, ENOENT);
    return bpf_map__fd(m);
}

}  // namespace

struct LearnTrace::State {
    bpf_object* obj = nullptr;
    std::vector<bpf_link*> links;
    ~State() {
        for (auto* l : links) bpf_link__destroy(l);
        if (obj) bpf_object__close(obj);
    }
};

LearnTrace::LearnTrace() : s_(std::make_unique<State>()) {
    libbpf_set_print(quiet);
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "caisson_learn");
    s_->obj = bpf_object__open_mem(embedded::learn_trace_object, embedded::learn_trace_object_size, &opts);
    if (!s_->obj) throw Error(ErrorKind::Setup, "open BPF object", "learn_trace.bpf.o", errno);
    if (bpf_object__load(s_->obj) < 0) throw Error(ErrorKind::Setup, "load learn mode's BPF programs", "tracepoints", errno);
    bpf_program* prog;
    bpf_object__for_each_program(prog, s_->obj) {
        bpf_link* link = bpf_program__attach(prog);
        if (!link) throw Error(ErrorKind::Setup, "attach learn mode's BPF program", bpf_program__name(prog), errno);
        s_->links.push_back(link);
    }
}

LearnTrace::~LearnTrace() = default;

void LearnTrace::watch(int cgroup_fd) {
    // A cgroup v2 directory's id, as bpf_get_current_cgroup_id() returns it, is its inode.
    struct stat st{};
    if (::fstat(cgroup_fd, &st) < 0) throw Error(ErrorKind::Setup, "fstat", "sandbox cgroup", errno);
    uint32_t key = kSetCgroup;
    uint64_t id = st.st_ino;
    if (bpf_map_update_elem(map_fd(s_->obj, "settings"), &key, &id, BPF_ANY) < 0)
        throw Error(ErrorKind::Setup, "fill learn mode's BPF map", "settings", errno);
}

void LearnTrace::collect(Outcome& out) const {
    auto seen = [&](const std::string& name) {
        auto at = std::lower_bound(out.syscalls_seen.begin(), out.syscalls_seen.end(), name);
        if (at == out.syscalls_seen.end() || *at != name) out.syscalls_seen.insert(at, name);
    };
    const int calls = map_fd(s_->obj, "calls");
    for (uint32_t nr = 0; nr < 512; ++nr) {
        uint8_t v = 0;
        if (bpf_map_lookup_elem(calls, &nr, &v) == 0 && v) seen(filter::syscall_name(seccomp::Abi::X86_64, nr));
    }
    const int values = map_fd(s_->obj, "values");
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
