// Runs a command under a seccomp filter like a container runtime's (Docker's default
// profile): clone3 answers ENOSYS, and clone or unshare with CLONE_NEWUSER answer EPERM.
// The tests run caisson through it, to see a host where user namespaces are forbidden.
//   deny_userns COMMAND [ARGS...]
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <cstdio>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: deny_userns COMMAND [ARGS...]\n");
        return 2;
    }
    constexpr unsigned kArch = offsetof(seccomp_data, arch), kNr = offsetof(seccomp_data, nr);
    constexpr unsigned kArg0 = offsetof(seccomp_data, args[0]);
    sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArch),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNr),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg0),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{sizeof(f) / sizeof(f[0]), f};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
        std::perror("deny_userns: seccomp");
        return 2;
    }
    ::execv(argv[1], argv + 1);
    std::perror("deny_userns: exec");
    return 127;
}
