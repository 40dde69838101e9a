// A program that can live under SECCOMP_MODE_STRICT's set from its first instruction: no
// C library start-up, only read, write and exit. With an argument it then calls getpid,
// which the strict policy must answer by killing it.
#include <sys/syscall.h>

namespace {

long raw_syscall(long nr, long a = 0, long b = 0, long c = 0) {
    long ret;
    asm volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

}  // namespace

extern "C" [[noreturn]] void strict_main(long argc) {
    static const char msg[] = "strict ok\n";
    raw_syscall(SYS_write, 1, reinterpret_cast<long>(msg), sizeof(msg) - 1);
    if (argc > 1) raw_syscall(SYS_getpid);
    for (;;) raw_syscall(SYS_exit, 0);
}

// The kernel starts us with argc at the top of the stack.
asm(".globl _start\n"
    "_start:\n"
    "  mov (%rsp), %rdi\n"
    "  and $-16, %rsp\n"
    "  call strict_main\n");
