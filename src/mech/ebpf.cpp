#include "mech/ebpf.hpp"

#include <caisson/error.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace caisson::mech {
namespace {

long bpf(int cmd, bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof(attr)); }

// The verifier's complaint is the last line before its closing summary.
std::string verifier_complaint(std::string log) {
    while (!log.empty() && (log.back() == '\n' || log.back() == '\0')) log.pop_back();
    auto summary = log.rfind('\n');
    log = summary == std::string::npos ? "" : log.substr(0, summary);
    auto line = log.rfind('\n');
    return log.substr(line == std::string::npos ? 0 : line + 1);
}

}  // namespace

kernel::Fd load_bpf_program(bpf_prog_type type, bpf_attach_type expected, const std::vector<bpf_insn>& insns,
                        const char* name, const std::string& what) {
    std::vector<char> log(64 * 1024, '\0');
    bpf_attr a{};
    a.prog_type = type;
    a.expected_attach_type = expected;
    a.insns = reinterpret_cast<uint64_t>(insns.data());
    a.insn_cnt = static_cast<uint32_t>(insns.size());
    a.license = reinterpret_cast<uint64_t>("Apache-2.0");
    a.log_buf = reinterpret_cast<uint64_t>(log.data());
    a.log_size = static_cast<uint32_t>(log.size());
    a.log_level = 1;
    std::strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
    kernel::Fd fd(static_cast<int>(bpf(BPF_PROG_LOAD, a)));
    if (!fd) {
        int err = errno;
        std::string why = verifier_complaint(std::string(log.data()));
        throw Error(ErrorKind::Setup, "load " + what, why.empty() ? "" : "verifier: " + why, err);
    }
    return fd;
}

void attach_bpf_program(int cgroup_fd, int prog_fd, bpf_attach_type type, uint32_t flags, const std::string& what) {
    bpf_attr a{};
    a.target_fd = static_cast<uint32_t>(cgroup_fd);
    a.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
    a.attach_type = type;
    a.attach_flags = flags;
    if (bpf(BPF_PROG_ATTACH, a) < 0) throw Error(ErrorKind::Setup, "attach " + what, "sandbox cgroup", errno);
}

kernel::Fd create_bpf_array(uint32_t value_size, uint32_t entries, const char* name) {
    bpf_attr a{};
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = value_size;
    a.max_entries = entries;
    std::strncpy(a.map_name, name, sizeof(a.map_name) - 1);
    kernel::Fd fd(static_cast<int>(bpf(BPF_MAP_CREATE, a)));
    if (!fd) throw Error(ErrorKind::Setup, "bpf map create", name, errno);
    return fd;
}

bool bpf_lookup(int map_fd, uint32_t key, void* value) {
    bpf_attr a{};
    a.map_fd = static_cast<uint32_t>(map_fd);
    a.key = reinterpret_cast<uint64_t>(&key);
    a.value = reinterpret_cast<uint64_t>(value);
    return bpf(BPF_MAP_LOOKUP_ELEM, a) == 0;
}

}  // namespace caisson::mech
