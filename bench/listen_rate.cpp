// Listen mode's connections per second (issue 9): `caisson listen` serving /bin/true to
// clients on loopback, side by side with an inetd-style loop of our own that accepts and
// forks /bin/true with the socket as stdio and no sandbox, and the same loop exec'ing util-linux's
// unshare with the eight namespaces a sandbox has (the kernel's floor of a fresh sandbox per
// connection). A connection counts once the client has read the server's end of it. Medians of
// rounds.
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
#include <tuple>
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

// The baseline: accept, fork, exec `argv` (/bin/true) on the socket; reaped as they end.
void plain_server(int sock, std::atomic<bool>& stop, std::vector<const char*> argv) {
    argv.push_back(nullptr);
    while (!stop) {
        int c = ::accept4(sock, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        pid_t pid = ::fork();
        if (pid == 0) {
            ::dup2(c, 0);
            ::dup2(c, 1);
            ::execv(argv[0], const_cast<char* const*>(argv.data()));
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

    // caisson listen (and a warm pool for the second), ports and readiness from their first
    // lines on stderr.
    auto start = [&](std::vector<std::string> args, std::string& line) {
        int err[2];
        if (::pipe2(err, O_CLOEXEC) < 0) return pid_t(-1);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::dup2(err[1], 2);
            std::vector<char*> a;
            for (auto& s : args) a.push_back(s.data());
            a.push_back(nullptr);
            ::execv(argv[1], a.data());
            ::_exit(127);
        }
        ::close(err[1]);
        char ch;
        while (::read(err[0], &ch, 1) == 1 && ch != '\n') line += ch;
        // Kept open (and unread): a later line on their stderr must not meet a closed pipe.
        return pid;
    };
    auto port_of = [](const std::string& line) {
        auto colon = line.rfind(':');
        return line.find("listening on") == std::string::npos || colon == std::string::npos ? 0 : std::stoi(line.substr(colon + 1));
    };
    const std::string caisson = argv[1];
    std::string line, pool_line, pooled_line;
    pid_t server = start({caisson, "listen", "--port", "0", "--address", "127.0.0.1", "--max-conns", "64", "--log", "/dev/null", "--",
                          "/bin/true"},
                         line);
    const int caisson_port = port_of(line);
    std::vector<pid_t> started{server};
    auto stop_all = [&] {
        for (pid_t pid : started) {
            ::kill(pid, SIGTERM);
            ::waitpid(pid, nullptr, 0);
        }
    };
    if (!caisson_port) {
        std::fprintf(stderr, "listen_rate: caisson listen did not start: %s\n", line.c_str());
        stop_all();
        return 1;
    }
    // A pool as large as a round: every connection of a round finds its sandbox ready.
    char pool_dir[] = "/tmp/caisson-bench-XXXXXX";
    if (!::mkdtemp(pool_dir)) {
        stop_all();
        return 1;
    }
    const std::string socket = std::string(pool_dir) + "/pool.sock";
    pid_t pool = start({caisson, "pool", "--socket", socket, "--size", std::to_string(total)}, pool_line);
    started.push_back(pool);
    pid_t pooled = start({caisson, "listen", "--port", "0", "--address", "127.0.0.1", "--max-conns", "64", "--log", "/dev/null",
                          "--pool", socket, "--", "/bin/true"},
                         pooled_line);
    started.insert(started.begin(), pooled);  // the listener before its pool
    const int pooled_port = port_of(pooled_line);
    if (pool_line.find("listening on") == std::string::npos || !pooled_port) {
        std::fprintf(stderr, "listen_rate: the pool or its listener did not start: %s / %s\n", pool_line.c_str(), pooled_line.c_str());
        stop_all();
        ::rmdir(pool_dir);
        return 1;
    }

    int plain_port = 0;
    int plain_sock = listen_any(plain_port);
    std::atomic<bool> stop{false};
    std::thread plain(plain_server, plain_sock, std::ref(stop), std::vector<const char*>{"/bin/true"});
    int floor_port = 0;
    int floor_sock = listen_any(floor_port);
    std::thread floor(plain_server, floor_sock, std::ref(stop),
                      std::vector<const char*>{"/usr/bin/unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount", "--uts",
                                               "--ipc", "--net", "--cgroup", "--time", "--mount-proc", "/bin/true"});

    std::vector<double> c, k, p, u;
    int failed = 0;
    // The pool says it is listening once every sandbox is built. It refills once its
    // callers pause, at idle priority: it is given the time to, away from the other rounds.
    for (int r = 0; r < rounds; ++r) {
        k.push_back(rate(pooled_port, total, clients, failed));
        std::this_thread::sleep_for(std::chrono::seconds(2 + total / 25));
        c.push_back(rate(caisson_port, total, clients, failed));
        p.push_back(rate(plain_port, total, clients, failed));
        u.push_back(rate(floor_port, total, clients, failed));
    }
    stop = true;
    for (auto [sock, port, thread] : {std::tuple{plain_sock, plain_port, &plain}, std::tuple{floor_sock, floor_port, &floor}}) {
        ::shutdown(sock, SHUT_RDWR);
        int wake = caisson::test::connect_loopback(port);
        if (wake >= 0) ::close(wake);
        thread->join();
        ::close(sock);
    }
    stop_all();
    ::rmdir(pool_dir);

    std::printf("listen mode, %d connections from %d clients, medians of %d rounds   conn/s   x plain\n", total, clients, rounds);
    std::printf("plain accept+fork+exec /bin/true, no sandbox          %10.1f   %7.2f\n", median(p), 1.0);
    std::printf("the same loop exec'ing unshare (8 namespaces) /bin/true   %10.1f   %7.2f\n", median(u), median(u) / median(p));
    std::printf("caisson listen -- /bin/true                           %10.1f   %7.2f\n", median(c), median(c) / median(p));
    std::printf("caisson listen --pool (a pool of %4d) -- /bin/true    %10.1f   %7.2f\n", total, median(k), median(k) / median(p));
    std::printf("failed connections: %d\n", failed);
    return 0;
}
