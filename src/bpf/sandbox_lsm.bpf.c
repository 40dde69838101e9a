// caisson's per-sandbox BPF LSM programs. Attached as lsm_cgroup programs to the sandbox's
// cgroup, the kernel runs them for its processes only; their state is in the maps below,
// which the supervisor fills before the start and reads after the end.
//   exec: each binary the kernel loads (bprm_check_security, an interpreter included) counts;
//         past `exec_max` loads, refused.
//   open: an open of a denied inode (dev, ino), whatever path reached it, is refused.
//   connect: with allowed ports set, an IPv4 or IPv6 connect to any other port is refused.
// An lsm_cgroup program returns 1 to allow and 0 to refuse (the caller sees EPERM).
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

// Only the fields used, relocated against the running kernel's BTF (CO-RE).
struct super_block {
    unsigned int s_dev;
} __attribute__((preserve_access_index));
struct inode {
    unsigned long i_ino;
    struct super_block *i_sb;
} __attribute__((preserve_access_index));
struct file {
    struct inode *f_inode;
} __attribute__((preserve_access_index));
struct linux_binprm;
struct socket;
struct sockaddr {
    unsigned short sa_family;
} __attribute__((preserve_access_index));
struct sockaddr_in {
    unsigned short sin_family;
    unsigned short sin_port;
} __attribute__((preserve_access_index));
struct sockaddr_in6 {
    unsigned short sin6_family;
    unsigned short sin6_port;
} __attribute__((preserve_access_index));

#define AF_INET 2
#define AF_INET6 10

// Settings, written by the supervisor before the start.
enum { SET_EXEC_MAX, SET_PORTS_ON, SET_COUNT };
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SET_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} settings SEC(".maps");

// What happened: loads let through, and refusals by hook.
enum { SEEN_EXECS, DENIED_EXECS, DENIED_OPENS, DENIED_CONNECTS, SEEN_COUNT };
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SEEN_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} seen SEC(".maps");

struct file_id {
    __u64 dev;
    __u64 ino;
};
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, struct file_id);
    __type(value, __u8);
} denied_files SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u16);
    __type(value, __u8);
} allowed_ports SEC(".maps");

static __u64 setting(__u32 key) {
    __u64 *v = bpf_map_lookup_elem(&settings, &key);
    return v ? *v : 0;
}

static void count(__u32 key) {
    __u64 *v = bpf_map_lookup_elem(&seen, &key);
    if (v) __sync_fetch_and_add(v, 1);
}

SEC("lsm_cgroup/bprm_check_security")
int BPF_PROG(caisson_exec, struct linux_binprm *bprm) {
    __u32 key = SEEN_EXECS;
    __u64 *execs = bpf_map_lookup_elem(&seen, &key);
    if (!execs) return 0;
    // The count is taken and tested in one step: two processes racing cannot both pass.
    __u64 before = __sync_fetch_and_add(execs, 1);
    if (before >= setting(SET_EXEC_MAX)) {
        __sync_fetch_and_add(execs, -1);
        count(DENIED_EXECS);
        return 0;
    }
    return 1;
}

SEC("lsm_cgroup/file_open")
int BPF_PROG(caisson_open, struct file *file) {
    struct file_id id = {};
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    id.ino = BPF_CORE_READ(inode, i_ino);
    id.dev = BPF_CORE_READ(inode, i_sb, s_dev);
    if (bpf_map_lookup_elem(&denied_files, &id)) {
        count(DENIED_OPENS);
        return 0;
    }
    return 1;
}

SEC("lsm_cgroup/socket_connect")
int BPF_PROG(caisson_connect, struct socket *sock, struct sockaddr *address, int addrlen) {
    if (!setting(SET_PORTS_ON)) return 1;
    unsigned short family = BPF_CORE_READ(address, sa_family);
    __u16 port;
    if (family == AF_INET && addrlen >= 8) port = bpf_ntohs(BPF_CORE_READ((struct sockaddr_in *)address, sin_port));
    else if (family == AF_INET6 && addrlen >= 24) port = bpf_ntohs(BPF_CORE_READ((struct sockaddr_in6 *)address, sin6_port));
    else return 1;  // not an IP destination: other rules (egress, Landlock) decide
    if (bpf_map_lookup_elem(&allowed_ports, &port)) return 1;
    count(DENIED_CONNECTS);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
