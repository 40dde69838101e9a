#include "mech/bpf_lsm.hpp"

#include <caisson/error.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstdarg>
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

// libbpf's own messages would interleave with caisson's one-line errors.
int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

int map_fd(bpf_object* obj, const char* name) {
    bpf_map* m = bpf_object__find_map_by_name(obj, name);
    if (!m) throw Error(ErrorKind::Setup, "find BPF map", name, ENOENT);
    return bpf_map__fd(m);
}

void update(int fd, const void* key, const void* value, const std::string& what) {
    if (bpf_map_update_elem(fd, key, value, BPF_ANY) < 0) throw Error(ErrorKind::Setup, "fill BPF LSM map", what, errno);
}

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
    bpf_object* obj = nullptr;
    std::vector<bpf_link*> links;
    ~State() {
        for (auto* l : links) bpf_link__destroy(l);
        if (obj) bpf_object__close(obj);
    }
};

BpfLsmPrograms::BpfLsmPrograms(int cgroup_fd, const BpfLsm& policy) : s_(std::make_unique<State>()) {
    libbpf_set_print(quiet);
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "caisson_lsm");
    s_->obj = bpf_object__open_mem(embedded::sandbox_lsm_object, embedded::sandbox_lsm_object_size, &opts);
    if (!s_->obj) throw Error(ErrorKind::Setup, "open BPF LSM object", "sandbox_lsm.bpf.o", errno);
    // Only the programs the policy needs are loaded: a hook with no rule costs nothing.
    bpf_program* prog;
    bpf_object__for_each_program(prog, s_->obj) {
        std::string name = bpf_program__name(prog);
        bool needed = (name == "caisson_exec" && policy.exec_max) || (name == "caisson_open" && !policy.deny_files.empty()) ||
                      (name == "caisson_connect" && !policy.connect_ports.empty());
        bpf_program__set_autoload(prog, needed);
    }
    if (bpf_object__load(s_->obj) < 0) throw Error(ErrorKind::Setup, "load BPF LSM programs", "lsm_cgroup", errno);

    const int settings = map_fd(s_->obj, "settings");
    // The program's own start is a load too.
    uint64_t exec_max = policy.exec_max ? *policy.exec_max + 1 : 0, ports_on = policy.connect_ports.empty() ? 0 : 1;
    uint32_t key = kSetExecMax;
    update(settings, &key, &exec_max, "settings");
    key = kSetPortsOn;
    update(settings, &key, &ports_on, "settings");
    const int files = map_fd(s_->obj, "denied_files");
    for (const auto& path : policy.deny_files) {
        struct stat st{};
        if (::stat(path.c_str(), &st) < 0) throw Error(ErrorKind::Usage, "--lsm-deny-file: stat", path, errno);
        // The kernel's own encoding of a device number (MKDEV), which the program reads.
        FileId id{(static_cast<uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev), st.st_ino};
        uint8_t one = 1;
        update(files, &id, &one, path);
    }
    const int ports = map_fd(s_->obj, "allowed_ports");
    for (uint16_t port : policy.connect_ports) {
        uint8_t one = 1;
        update(ports, &port, &one, "port " + std::to_string(port));
    }
    bpf_object__for_each_program(prog, s_->obj) {
        if (!bpf_program__autoload(prog)) continue;
        bpf_link* link = bpf_program__attach_cgroup(prog, cgroup_fd);
        if (!link) throw Error(ErrorKind::Setup, "attach BPF LSM program", bpf_program__name(prog), errno);
        s_->links.push_back(link);
    }
}

BpfLsmPrograms::~BpfLsmPrograms() = default;

BpfLsmReport BpfLsmPrograms::report() const {
    BpfLsmReport r;
    r.applied = true;
    int seen = bpf_map__fd(bpf_object__find_map_by_name(s_->obj, "seen"));
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

}  // namespace caisson::mech
