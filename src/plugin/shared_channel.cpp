#include "plugin/shared_channel.hpp"

#include <caisson/error.hpp>

#include <linux/futex.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

namespace caisson::plugin {

// The first page of the area. Both sides write it; neither trusts what the other wrote.
struct SharedChannel::Header {
    alignas(64) std::atomic<uint32_t> seq{0};
    alignas(64) std::atomic<uint32_t> sleepers{0};  // sides asleep on seq: a publisher wakes only then
    alignas(64) std::atomic<uint32_t> length{0};
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);

namespace {

constexpr size_t kHeaderBytes = 4096;
constexpr size_t kPrefaultBytes = 64u << 10;  // small calls and replies fit
static_assert(sizeof(std::atomic<uint32_t>) * 48 <= kHeaderBytes);

// Futexes on a MAP_SHARED area: not FUTEX_PRIVATE, both processes wait on the same page.
long futex_wait_until(std::atomic<uint32_t>* word, uint32_t value, std::chrono::steady_clock::time_point deadline) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    // BITSET takes an absolute CLOCK_MONOTONIC time, which steady_clock is.
    return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_BITSET, value, &ts, nullptr,
                     FUTEX_BITSET_MATCH_ANY);
}

void futex_wake_all(std::atomic<uint32_t>* word) {
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

}  // namespace

SharedChannel::SharedChannel(kernel::Fd fd, void* map)
    : fd_(std::move(fd)), header_(static_cast<Header*>(map)), area_(static_cast<char*>(map) + kHeaderBytes) {}

SharedChannel::SharedChannel(SharedChannel&& o) noexcept
    : fd_(std::move(o.fd_)), header_(std::exchange(o.header_, nullptr)), area_(std::exchange(o.area_, nullptr)) {}

SharedChannel& SharedChannel::operator=(SharedChannel&& o) noexcept {
    if (this != &o) {
        this->~SharedChannel();
        new (this) SharedChannel(std::move(o));
    }
    return *this;
}

SharedChannel::~SharedChannel() {
    if (header_) ::munmap(header_, kHeaderBytes + kAreaBytes);
    header_ = nullptr;
}

SharedChannel SharedChannel::create() {
    kernel::Fd fd(static_cast<int>(::syscall(SYS_memfd_create, "caisson-plugin", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
    if (!fd) throw Error(ErrorKind::Setup, "plug-in channel: memfd_create", "", errno);
    if (::ftruncate(fd.get(), kHeaderBytes + kAreaBytes) < 0)
        throw Error(ErrorKind::Setup, "plug-in channel: ftruncate", "", errno);
    // The worker holds the same file: sealed, it cannot shrink it under the host's mapping (the
    // host's next read would be a SIGBUS, the host's death) nor grow it.
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        throw Error(ErrorKind::Setup, "plug-in channel: seal", "caisson-plugin", errno);
    void* map = ::mmap(nullptr, kHeaderBytes + kAreaBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (map == MAP_FAILED) throw Error(ErrorKind::Setup, "plug-in channel: mmap", "", errno);
    new (map) Header();
    return SharedChannel(std::move(fd), map);
}

SharedChannel SharedChannel::attach(int raw) {
    kernel::Fd fd(raw);
    void* map = ::mmap(nullptr, kHeaderBytes + kAreaBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (map == MAP_FAILED) throw Error(ErrorKind::Setup, "plug-in channel: mmap", "", errno);
    // The worker maps its pages in before it says ready, off the first call's path: page
    // faults are what a first call costs on a virtual machine. Only a hint.
    (void)::madvise(map, kHeaderBytes + kPrefaultBytes, MADV_POPULATE_WRITE);
    return SharedChannel(std::move(fd), map);
}

void SharedChannel::publish(uint32_t seq, const char* bytes, uint32_t length) {
    if (bytes) std::memcpy(area_, bytes, length);
    header_->length.store(length, std::memory_order_relaxed);
    // seq_cst on both words, here and in await(): either the sleeper sees the new value
    // before it sleeps, or this side sees the sleeper and wakes it.
    header_->seq.store(seq, std::memory_order_seq_cst);
    if (header_->sleepers.load(std::memory_order_seq_cst) != 0) futex_wake_all(&header_->seq);
}

std::optional<uint32_t> SharedChannel::await(uint32_t from, std::chrono::nanoseconds spin,
                                             std::chrono::steady_clock::time_point deadline) {
    auto now = std::chrono::steady_clock::now();
    const auto spin_until = std::min(now + spin, deadline);
    for (unsigned i = 0;; ++i) {
        uint32_t v = header_->seq.load(std::memory_order_acquire);
        if (v != from) return v;
        if ((i & 63) == 63 && std::chrono::steady_clock::now() >= spin_until) break;
        cpu_relax();
    }
    for (;;) {
        header_->sleepers.fetch_add(1, std::memory_order_seq_cst);
        uint32_t v = header_->seq.load(std::memory_order_seq_cst);
        long rc = 0;
        if (v == from) rc = futex_wait_until(&header_->seq, from, deadline);
        int err = errno;
        header_->sleepers.fetch_sub(1, std::memory_order_seq_cst);
        v = header_->seq.load(std::memory_order_acquire);
        if (v != from) return v;
        if (rc < 0 && err == ETIMEDOUT) return std::nullopt;
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    }
}

uint32_t SharedChannel::length() const { return header_->length.load(std::memory_order_acquire); }

void SharedChannel::copy_out(std::string& into, uint32_t length) const {
    into.resize(length);
    std::memcpy(into.data(), area_, length);
}

void SharedChannel::interrupt() {
    header_->seq.fetch_xor(0x80000000u, std::memory_order_seq_cst);
    futex_wake_all(&header_->seq);
}

uint32_t SharedChannel::sequence() const { return header_->seq.load(std::memory_order_acquire); }

}  // namespace caisson::plugin
