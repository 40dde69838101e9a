// An allocation-free formatter for the code between clone and exec, where the heap of a
// copied address space must not be touched. Writes into a caller's fixed buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace caisson::kernel {

class RawBuf {
public:
    RawBuf(char* buf, size_t cap) : buf_(buf), cap_(cap) {
        if (cap_) buf_[0] = '\0';
    }
    RawBuf& str(const char* s) {
        while (s && *s && len_ + 1 < cap_) buf_[len_++] = *s++;
        buf_[len_] = '\0';
        return *this;
    }
    RawBuf& num(int64_t v) {
        char tmp[24];
        int n = 0;
        bool neg = v < 0;
        uint64_t u = neg ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
        do {
            tmp[n++] = static_cast<char>('0' + u % 10);
            u /= 10;
        } while (u);
        if (neg) tmp[n++] = '-';
        while (n) {
            char c[2] = {tmp[--n], 0};
            str(c);
        }
        return *this;
    }
    size_t size() const { return len_; }
    const char* c_str() const { return buf_; }

private:
    char* buf_;
    size_t cap_;
    size_t len_ = 0;
};

// Copies src into a fixed array, always terminated.
template <size_t N>
inline void copy_cstr(char (&dst)[N], const char* src) {
    size_t n = src ? strnlen(src, N - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

}  // namespace caisson::kernel
