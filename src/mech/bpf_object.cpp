#include "mech/bpf_object.hpp"

#include <caisson/error.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>

namespace caisson::mech {
namespace {

// libbpf's own messages would interleave with caisson's one-line errors.
int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

}  // namespace

BpfObject::BpfObject(const unsigned char* bytes, size_t size, const char* name, std::string what) : what_(std::move(what)) {
    libbpf_set_print(quiet);
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
    obj_ = bpf_object__open_mem(bytes, size, &opts);
    if (!obj_) throw Error(ErrorKind::Setup, "open " + what_, name, errno);
}

BpfObject::~BpfObject() {
    for (auto* l : links_) bpf_link__destroy(l);
    if (obj_) bpf_object__close(obj_);
}

void BpfObject::load(const char* kind) {
    if (bpf_object__load(obj_) < 0) throw Error(ErrorKind::Setup, "load " + what_, kind, errno);
}

int BpfObject::map_fd(const char* name) const {
    bpf_map* m = bpf_object__find_map_by_name(obj_, name);
    if (!m) throw Error(ErrorKind::Setup, "find BPF map", name, ENOENT);
    return bpf_map__fd(m);
}

void BpfObject::update(const char* map, const void* key, const void* value, const std::string& what) const {
    if (bpf_map_update_elem(map_fd(map), key, value, BPF_ANY) < 0) throw Error(ErrorKind::Setup, "fill BPF map " + std::string(map), what, errno);
}

std::vector<int> BpfObject::link_fds() const {
    std::vector<int> out;
    for (auto* l : links_) out.push_back(bpf_link__fd(l));
    return out;
}

void BpfObject::keep(bpf_link* link, const bpf_program* prog) {
    if (!link) throw Error(ErrorKind::Setup, "attach " + what_, bpf_program__name(prog), errno);
    links_.push_back(link);
}

}  // namespace caisson::mech
