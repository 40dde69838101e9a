// Learn mode's recorder, for root: which system calls the program makes, and the argument
// values that matter for some, counted in the kernel as they are made, without a round trip
// to the supervisor. Only the sandbox's cgroup counts, and in it only processes that have
// exec'd a program (the program and what it forks), never caisson's own init and set-up.
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct pt_regs {
    unsigned long di, si, dx, r10, r8, r9;
} __attribute__((preserve_access_index));
struct task_struct {
    int tgid;
} __attribute__((preserve_access_index));

enum { SET_CGROUP, SET_INIT_TGID, SET_COUNT };
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SET_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} settings SEC(".maps");

// Processes of the sandbox running a program (tgid -> 1).
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, __u8);
} programs SEC(".maps");

// System calls seen, by number (x86_64).
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 512);
    __type(key, __u32);
    __type(value, __u8);
} calls SEC(".maps");

// (number, value) of the argument that carries a call's meaning.
struct call_value {
    __u32 nr;
    __u32 value;
};
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct call_value);
    __type(value, __u8);
} values SEC(".maps");

static __u64 setting(__u32 key) {
    __u64 *v = bpf_map_lookup_elem(&settings, &key);
    return v ? *v : 0;
}

static int in_sandbox(void) { return bpf_get_current_cgroup_id() == setting(SET_CGROUP); }

SEC("tp_btf/sched_process_exec")
int BPF_PROG(learn_exec, struct task_struct *p, int old_pid, void *bprm) {
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!in_sandbox() || tgid == setting(SET_INIT_TGID)) return 0;
    __u8 one = 1;
    bpf_map_update_elem(&programs, &tgid, &one, BPF_ANY);
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(learn_fork, struct task_struct *parent, struct task_struct *child) {
    __u32 parent_tgid = BPF_CORE_READ(parent, tgid), child_tgid = BPF_CORE_READ(child, tgid);
    if (parent_tgid == child_tgid || !bpf_map_lookup_elem(&programs, &parent_tgid)) return 0;
    __u8 one = 1;
    bpf_map_update_elem(&programs, &child_tgid, &one, BPF_ANY);
    return 0;
}

// Numbers of the calls whose argument learn mode keeps (see policy/learned.cpp).
#define NR_IOCTL 16
#define NR_SOCKET 41
#define NR_SOCKETPAIR 53
#define NR_FCNTL 72
#define NR_PRCTL 157

SEC("raw_tp/sys_enter")
int learn_syscall(struct bpf_raw_tracepoint_args *ctx) {
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!bpf_map_lookup_elem(&programs, &tgid) || !in_sandbox()) return 0;
    __u32 nr = (__u32)ctx->args[1];
    if (nr >= 512) return 0;
    __u8 one = 1;
    bpf_map_update_elem(&calls, &nr, &one, BPF_ANY);
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    struct call_value cv = {.nr = nr};
    if (nr == NR_SOCKET || nr == NR_SOCKETPAIR || nr == NR_PRCTL) cv.value = (__u32)BPF_CORE_READ(regs, di);
    else if (nr == NR_IOCTL || nr == NR_FCNTL) cv.value = (__u32)BPF_CORE_READ(regs, si);
    else return 0;
    bpf_map_update_elem(&values, &cv, &one, BPF_NOEXIST);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
