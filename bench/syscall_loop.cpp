// A tight loop of one system call, for the cost of a call decided by caisson's supervisor:
// `syscall_loop N` prints the ns per getppid() over N calls.
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    long n = argc > 1 ? std::atol(argv[1]) : 100000;
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) ::syscall(SYS_getppid);
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%.1f\n", ns / static_cast<double>(n));
    return 0;
}
