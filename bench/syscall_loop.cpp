// A tight loop of one system call, for the cost of a call decided by caisson's supervisor:
// `syscall_loop N` prints the ns per getppid() over N calls; `syscall_loop N PATH` the ns per
// open(PATH) and close of the descriptor.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    long n = argc > 1 ? std::atol(argv[1]) : 100000;
    const char* path = argc > 2 ? argv[2] : nullptr;
    long failed = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) {
        if (!path) {
            ::syscall(SYS_getppid);
            continue;
        }
        int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) ++failed;
        else ::close(fd);
    }
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    if (path && failed == n) {
        std::fprintf(stderr, "syscall_loop: every open of %s failed\n", path);
        return 1;
    }
    std::printf("%.1f\n", ns / static_cast<double>(n));
    return 0;
}
