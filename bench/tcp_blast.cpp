// A TCP transfer for the network benchmarks: `tcp_blast recv ADDR PORT` accepts one
// connection, reads to its end, and prints "MiB MiB/s"; `tcp_blast send ADDR PORT MIB`
// connects and writes that many MiB. The receiver says "ready" once it listens.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: tcp_blast recv ADDR PORT | send ADDR PORT MIB\n");
        return 2;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[3])));
    if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) return 2;
    std::vector<char> buf(1 << 20);
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    if (std::strcmp(argv[1], "recv") == 0) {
        int one = 1;
        ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 || ::listen(s, 1) < 0) return perror("listen"), 1;
        std::printf("ready\n");
        std::fflush(stdout);
        int c = ::accept(s, nullptr, nullptr);
        auto t0 = std::chrono::steady_clock::now();
        double bytes = 0;
        ssize_t n;
        while ((n = ::read(c, buf.data(), buf.size())) > 0) bytes += static_cast<double>(n);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%.0f %.1f\n", bytes / (1 << 20), bytes / (1 << 20) / secs);
        return 0;
    }
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) return perror("connect"), 1;
    long mib = std::atol(argv[4]);
    for (long i = 0; i < mib; ++i)
        for (size_t off = 0; off < buf.size();) {
            ssize_t n = ::write(s, buf.data() + off, buf.size() - off);
            if (n <= 0) return perror("write"), 1;
            off += static_cast<size_t>(n);
        }
    ::close(s);
    return 0;
}
