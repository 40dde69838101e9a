// One of caisson's embedded BPF objects (src/bpf/*.bpf.c) in the kernel through libbpf:
// opened from its bytes, loaded, its maps found by name, its programs' links kept. Everything
// goes (links detached, programs and maps freed) with this object. Throws caisson::Error.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

struct bpf_object;
struct bpf_program;
struct bpf_link;

namespace caisson::mech {

class BpfObject {
public:
    // `what` names the object in errors ("BPF LSM programs").
    BpfObject(const unsigned char* bytes, size_t size, const char* name, std::string what);
    ~BpfObject();
    BpfObject(const BpfObject&) = delete;
    BpfObject& operator=(const BpfObject&) = delete;

    bpf_object* get() const { return obj_; }
    // `kind` names the programs in errors ("lsm_cgroup", "tracepoints").
    void load(const char* kind);
    int map_fd(const char* name) const;
    void update(const char* map, const void* key, const void* value, const std::string& what) const;
    // Keeps a link that attaching `prog` returned (null: the attach failed, errno set).
    void keep(bpf_link* link, const bpf_program* prog);
    // The kept links' descriptors: a process that holds copies keeps the programs attached
    // after this object has gone (caisson-oci's monitor, beside a container).
    std::vector<int> link_fds() const;

private:
    bpf_object* obj_ = nullptr;
    std::vector<bpf_link*> links_;
    std::string what_;
};

}  // namespace caisson::mech
