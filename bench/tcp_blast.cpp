// A TCP transfer for the network benchmarks, either way:
//   tcp_blast recv ADDR PORT        accepts one connection, reads to its end, prints "MiB MiB/s"
//   tcp_blast send ADDR PORT MIB    connects and writes that many MiB
//   tcp_blast serve ADDR PORT MIB   accepts one connection and writes that many MiB to it
//   tcp_blast fetch ADDR PORT       connects, reads to the end, prints "MiB MiB/s"
// A listening side says "ready" once it listens.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int drain(int s, std::vector<char>& buf) {
    auto t0 = std::chrono::steady_clock::now();
    double bytes = 0;
    ssize_t n;
    while ((n = ::read(s, buf.data(), buf.size())) > 0) bytes += static_cast<double>(n);
    if (n < 0) return perror("read"), 1;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%.0f %.1f\n", bytes / (1 << 20), bytes / (1 << 20) / secs);
    return 0;
}

int fill(int s, std::vector<char>& buf, long mib) {
    for (long i = 0; i < mib; ++i)
        for (size_t off = 0; off < buf.size();) {
            ssize_t n = ::write(s, buf.data() + off, buf.size() - off);
            if (n <= 0) return perror("write"), 1;
            off += static_cast<size_t>(n);
        }
    ::close(s);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: tcp_blast recv|fetch ADDR PORT | send|serve ADDR PORT MIB\n");
        return 2;
    }
    std::string mode = argv[1];
    bool listens = mode == "recv" || mode == "serve", writes = mode == "send" || mode == "serve";
    if ((writes && argc < 5) || (!writes && mode != "recv" && mode != "fetch")) return 2;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[3])));
    if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) return 2;
    std::vector<char> buf(1 << 20);
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listens) {
        int one = 1;
        ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 || ::listen(s, 1) < 0) return perror("listen"), 1;
        std::printf("ready\n");
        std::fflush(stdout);
        s = ::accept(s, nullptr, nullptr);
        if (s < 0) return perror("accept"), 1;
    } else if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
        return perror("connect"), 1;
    }
    return writes ? fill(s, buf, std::atol(argv[4])) : drain(s, buf);
}
