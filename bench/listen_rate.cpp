// Listen mode's connections per second (issue 9): `caisson listen` serving /bin/true to
// clients on loopback, side by side with an inetd-style loop of our own that accepts and
// forks /bin/true with the socket as stdio and no sandbox. A connection counts once the
// client has read the server's end of it. Medians of rounds.
//   listen_rate CAISSON [CONNECTIONS] [CLIENTS] [ROUNDS]
#include "loopback.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;


// Connections per second with `clients` threads making `total` connections in all.
double rate(int port, int total, int clients, int& failed) {
    std::atomic<int> next{0}, bad{0};
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int c = 0; c < clients; ++c)
        ts.emplace_back([&] {
            while (next.fetch_add(1) < total) {
                int s = caisson::test::connect_loopback(port);
                if (s < 0) {
                    ++bad;
                    continue;
                }
                char buf[64];
                while (::read(s, buf, sizeof(buf)) > 0) {
                }
                ::close(s);
            }
        });
    for (auto& t : ts) t.join();
    failed += bad;
    return total / std::chrono::duration<double>(Clock::now() - t0).count();
}

// The baseline: accept, fork, exec /bin/true on the socket; reaped as they end.
void plain_server(int sock, std::atomic<bool>& stop) {
    while (!stop) {
        int c = ::accept4(sock, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        pid_t pid = ::fork();
        if (pid == 0) {
            ::dup2(c, 0);
            ::dup2(c, 1);
            ::execl("/bin/true", "true", nullptr);
            ::_exit(127);
        }
        ::close(c);
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
    }
}

int listen_any(int& port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(s, 256);
    socklen_t len = sizeof(a);
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return s;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: listen_rate CAISSON [CONNECTIONS] [CLIENTS] [ROUNDS]\n");
        return 2;
    }
    const int total = argc > 2 ? std::atoi(argv[2]) : 300;
    const int clients = argc > 3 ? std::atoi(argv[3]) : 8;
    const int rounds = argc > 4 ? std::atoi(argv[4]) : 3;
    ::signal(SIGPIPE, SIG_IGN);

    // caisson listen, its port from its first line on stderr.
    int err[2];
    if (::pipe2(err, O_CLOEXEC) < 0) return 1;
    pid_t server = ::fork();
    if (server == 0) {
        ::dup2(err[1], 2);
        ::execl(argv[1], "caisson", "listen", "--port", "0", "--address", "127.0.0.1", "--max-conns", "64", "--log",
                "/dev/null", "--", "/bin/true", nullptr);
        ::_exit(127);
    }
    ::close(err[1]);
    std::string line;
    char ch;
    while (::read(err[0], &ch, 1) == 1 && ch != '\n') line += ch;
    auto colon = line.rfind(':');
    if (colon == std::string::npos) {
        std::fprintf(stderr, "listen_rate: caisson listen did not start: %s\n", line.c_str());
        return 1;
    }
    const int caisson_port = std::stoi(line.substr(colon + 1));

    int plain_port = 0;
    int plain_sock = listen_any(plain_port);
    std::atomic<bool> stop{false};
    std::thread plain(plain_server, plain_sock, std::ref(stop));

    std::vector<double> c, p;
    int failed = 0;
    for (int r = 0; r < rounds; ++r) {
        c.push_back(rate(caisson_port, total, clients, failed));
        p.push_back(rate(plain_port, total, clients, failed));
    }
    stop = true;
    ::shutdown(plain_sock, SHUT_RDWR);
    int wake = caisson::test::connect_loopback(plain_port);
    if (wake >= 0) ::close(wake);
    plain.join();
    ::close(plain_sock);
    ::kill(server, SIGTERM);
    ::waitpid(server, nullptr, 0);

    std::printf("listen mode, %d connections from %d clients, medians of %d rounds   conn/s   x plain\n", total, clients, rounds);
    std::printf("plain accept+fork+exec /bin/true, no sandbox          %10.1f   %7.2f\n", median(p), 1.0);
    std::printf("caisson listen -- /bin/true                           %10.1f   %7.2f\n", median(c), median(c) / median(p));
    std::printf("failed connections: %d\n", failed);
    return 0;
}
