// A plug-in for the tests: well-behaved functions of every supported type, and misbehaving
// ones (a crash, a loop, unbounded allocation, a forbidden system call, garbage written on
// the worker's channel). Built as a shared library that links nothing.
#include <caisson/plugin.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
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
// What a compromised plug-in could do: write its own bytes where the host reads replies.
// On the socket, then a reply that carries a descriptor, so that the host reads the socket.
Fd garbage_on_socket() {
    for (int fd = 3; fd < 64; ++fd) {
        struct stat st{};
        if (::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) (void)!::write(fd, "\x01\x02garbage-garbage", 17);
    }
    return Fd{::open("/", O_RDONLY | O_CLOEXEC)};
}
// In the shared channel (found by its size), as an attacker who read caisson's source would:
// the sequence word at 0, the length at 128, the area from 4096.
uint32_t* channel() {
    for (int fd = 3; fd < 64; ++fd) {
        struct stat st{};
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4096 + (2 << 20) + (64 << 10)) {
            void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (m != MAP_FAILED) return static_cast<uint32_t*>(m);
        }
    }
    return nullptr;
}
// Rings the host with `seq` and waits to be killed.
[[noreturn]] void ring(uint32_t* c, uint32_t seq) {
    __atomic_store_n(&c[0], seq, __ATOMIC_SEQ_CST);
    ::syscall(SYS_futex, &c[0], 1 /* FUTEX_WAKE */, 1000, nullptr, nullptr, 0);
    for (;;) ::pause();
}
// "Here is the reply", with a length past the end of the area.
int64_t garbage_length() {
    uint32_t* c = channel();
    if (!c) return -1;
    c[32] = 0xfffffff0u;
    ring(c, c[0] + 1);
}
// A reply of the right length whose bytes are not a message.
int64_t garbage_bytes() {
    uint32_t* c = channel();
    if (!c) return -1;
    std::memcpy(reinterpret_cast<char*>(c) + 4096, "\x07not a reply", 13);
    c[32] = 13;
    ring(c, c[0] + 1);
}
// A ring with a sequence number that is not the reply's.
int64_t out_of_turn() {
    uint32_t* c = channel();
    if (!c) return -1;
    ring(c, c[0] + 7);
}

// The shared channel cut to nothing under the host's mapping (the host's next read would be a
// SIGBUS, the host's death, were the file not sealed against shrinking), then a ring.
int64_t shrink_channel() {
    uint32_t* c = channel();
    if (!c) return -1;
    for (int fd = 3; fd < 64; ++fd) {
        struct stat st{};
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4096 + (2 << 20) + (64 << 10)) (void)::ftruncate(fd, 0);
    }
    ring(c, c[0] + 1);
}

// What the worker's 0, 1, 2 are: "null" for /dev/null, "other" for anything else; then a
// line on its standard error.
std::string streams() {
    std::string out;
    for (int fd = 0; fd < 3; ++fd) {
        struct stat st{};
        bool null = ::fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
        out += std::string(fd ? " " : "") + (null ? "null" : "other");
    }
    static const char line[] = "a line on the worker's stderr\n";
    (void)!::write(2, line, sizeof(line) - 1);
    return out;
}

// What a hostile worker would do to the host's log, were its stderr the host's own open file:
// truncate it, rewind it, make it non-blocking.
std::string tamper_stderr() {
    const bool truncated = ::ftruncate(2, 0) == 0;
    int flags = ::fcntl(2, F_GETFL);
    if (flags >= 0) (void)::fcntl(2, F_SETFL, flags | O_NONBLOCK);
    (void)::lseek(2, 0, SEEK_SET);
    return truncated ? "truncated" : "not truncated";
}

// A reply whose bytes come one at a time: it rings "on the socket", sends a whole header
// announcing 100 bytes, then one byte every 100 ms (each read gets a byte well within any
// per-read timeout; the whole takes 10 s).
int64_t trickle() {
    uint32_t* c = channel();
    if (!c) return -1;
    int sock = -1;
    for (int fd = 3; fd < 64 && sock < 0; ++fd) {
        struct stat st{};
        if (::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) sock = fd;
    }
    if (sock < 0) return -1;
    c[32] = 0xffffffffu;
    __atomic_store_n(&c[0], c[0] + 1, __ATOMIC_SEQ_CST);
    ::syscall(SYS_futex, &c[0], 1 /* FUTEX_WAKE */, 1000, nullptr, nullptr, 0);
    const uint32_t header[2] = {0x63617773, 100};
    (void)!::write(sock, header, sizeof(header));
    const timespec tick{0, 100 * 1000 * 1000};
    for (;;) {
        (void)!::write(sock, "x", 1);
        ::nanosleep(&tick, nullptr);
    }
}

// A proper reply (7), after which the worker hears nothing more: it holds `held` open and
// waits for good, "close" included. Its end shows as the end of the host's pipe.
int64_t reply_then_hang(Fd held) {
    uint32_t* c = channel();
    if (!c) return -1;
    caisson::wire::Writer w;
    w.put(true);
    w.put(int64_t{7});
    std::memcpy(reinterpret_cast<char*>(c) + 4096, w.bytes().data(), w.bytes().size());
    c[32] = static_cast<uint32_t>(w.bytes().size());
    (void)held;
    ring(c, c[0] + 1);
}

// State that lives as long as the worker.
int64_t bump() {
    static int64_t n = 0;
    return ++n;
}

CAISSON_PLUGIN_FUNCTION(bump)
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
CAISSON_PLUGIN_FUNCTION(garbage_on_socket)
CAISSON_PLUGIN_FUNCTION(garbage_length)
CAISSON_PLUGIN_FUNCTION(garbage_bytes)
CAISSON_PLUGIN_FUNCTION(out_of_turn)
CAISSON_PLUGIN_FUNCTION(shrink_channel)
CAISSON_PLUGIN_FUNCTION(streams)
CAISSON_PLUGIN_FUNCTION(tamper_stderr)
CAISSON_PLUGIN_FUNCTION(trickle)
CAISSON_PLUGIN_FUNCTION(reply_then_hang)
