// A plug-in for the tests: well-behaved functions of every supported type, and misbehaving
// ones (a crash, a loop, unbounded allocation, a forbidden system call, garbage written on
// the worker's channel). Built as a shared library that links nothing.
#include <caisson/plugin.hpp>

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

using caisson::wire::Bytes;
using caisson::wire::Fd;

int64_t add(int64_t a, int64_t b) { return a + b; }
double scale(double x, double k) { return x * k; }
bool flip(bool b) { return !b; }
uint32_t count(std::string s) { return static_cast<uint32_t>(s.size()); }
std::string greet(std::string name) { return "hello, " + name; }
Bytes reverse(Bytes b) {
    std::reverse(b.data.begin(), b.data.end());
    return b;
}
// A descriptor from the host: written to, then closed (the plug-in owns what it receives).
int64_t write_to(Fd fd, std::string text) {
    ssize_t n = ::write(fd.fd, text.data(), text.size());
    ::close(fd.fd);
    return n;
}
// A descriptor to the host: the read end of a pipe holding `text`.
Fd pipe_with(std::string text) {
    int p[2];
    if (::pipe(p) < 0) return Fd{-1};
    (void)!::write(p[1], text.data(), text.size());
    ::close(p[1]);
    return Fd{p[0]};
}
int64_t fails(int64_t) { throw std::runtime_error("this input is refused"); }
void nothing() {}

int64_t crash() {
    volatile int* p = nullptr;
    return *p;
}
int64_t spin() {
    volatile uint64_t i = 0;
    for (;;) i = i + 1;
}
int64_t hog() {
    std::vector<char*> blocks;
    for (;;) {
        char* b = static_cast<char*>(std::malloc(1 << 20));
        if (!b) return -1;
        std::memset(b, 1, 1 << 20);
        blocks.push_back(b);
    }
}
// Not in the default allowlist, not denied by name either: the plug-in's default action.
int64_t forbidden() { return ::syscall(SYS_migrate_pages, 0, 0, 0, 0); }
// What a compromised plug-in could do: write its own bytes on the channel to the host.
int64_t garbage() {
    for (int fd = 3; fd < 64; ++fd) {
        struct stat st{};
        if (::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) (void)!::write(fd, "\x01\x02garbage-garbage", 17);
    }
    return 0;
}

CAISSON_PLUGIN_FUNCTION(add)
CAISSON_PLUGIN_FUNCTION(scale)
CAISSON_PLUGIN_FUNCTION(flip)
CAISSON_PLUGIN_FUNCTION(count)
CAISSON_PLUGIN_FUNCTION(greet)
CAISSON_PLUGIN_FUNCTION(reverse)
CAISSON_PLUGIN_FUNCTION(write_to)
CAISSON_PLUGIN_FUNCTION(pipe_with)
CAISSON_PLUGIN_FUNCTION(fails)
CAISSON_PLUGIN_FUNCTION(nothing)
CAISSON_PLUGIN_FUNCTION(crash)
CAISSON_PLUGIN_FUNCTION(spin)
CAISSON_PLUGIN_FUNCTION(hog)
CAISSON_PLUGIN_FUNCTION(forbidden)
CAISSON_PLUGIN_FUNCTION(garbage)
