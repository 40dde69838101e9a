#include "harness.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace caisson::test {

const char* caisson_path() { return CAISSON_BINARY; }
const char* probe_path() { return CAISSON_PROBE; }
const char* oci_path() { return CAISSON_OCI_BINARY; }

RunResult run_oci(const std::vector<std::string>& args, RunOptions opts) {
    opts.program = oci_path();
    opts.until_exit = true;
    return run_caisson(args, opts);
}
const char* source_dir() { return CAISSON_SOURCE_DIR; }

RunResult run_caisson(const std::vector<std::string>& args, const RunOptions& opts) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
    std::vector<std::string> argv_s = opts.wrapper;
    argv_s.push_back(opts.program ? opts.program : caisson_path());
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        int in = opts.stdin_fd >= 0 ? opts.stdin_fd : ::open("/dev/null", O_RDONLY);
        ::dup2(in, 0);
        for (auto [to, from] : opts.extra_fds) ::dup2(from, to);
        // Nothing of this test process's (or of ctest's: its log is open here) reaches
        // caisson but what the test passes: a test never passes because of what its runner
        // happened to leave open.
        std::vector<int> keep;
        for (auto [to, from] : opts.extra_fds) keep.push_back(to);
        std::sort(keep.begin(), keep.end());
        unsigned next = 3;
        for (int fd : keep) {
            if (static_cast<unsigned>(fd) > next) ::syscall(SYS_close_range, next, static_cast<unsigned>(fd) - 1, 0);
            next = std::max(next, static_cast<unsigned>(fd) + 1);
        }
        ::syscall(SYS_close_range, next, ~0U, 0);
        for (const auto& e : opts.env) ::putenv(const_cast<char*>(e.c_str()));
        if (opts.as_uid) {
            if (::setgroups(0, nullptr) < 0 || ::setresgid(*opts.as_uid, *opts.as_uid, *opts.as_uid) < 0 ||
                ::setresuid(*opts.as_uid, *opts.as_uid, *opts.as_uid) < 0)
                ::_exit(250);
        }
        ::execv(argv[0], argv.data());
        ::_exit(251);
    }
    ::close(out[1]);
    ::close(err[1]);
    RunResult r;
    bool ready_seen = false;
    int pidfd = opts.until_exit ? static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)) : -1;
    if (opts.until_exit && pidfd < 0) throw std::runtime_error("pidfd_open");
    pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {pidfd, POLLIN, 0}};
    int open_count = 2;
    bool exited = false;
    while (open_count > 0) {
        if (!exited && ::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (!exited && pidfd >= 0 && fds[2].revents) {
            // Drain what the program wrote before it exited; a container may keep the pipes.
            exited = true;
            for (int i = 0; i < 2; ++i)
                if (fds[i].fd >= 0) {
                    ::fcntl(fds[i].fd, F_SETFL, O_NONBLOCK);
                    fds[i].revents = POLLIN;
                }
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            char buf[8192];
            ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
            if (n < 0 && errno == EAGAIN && !exited) continue;
            if (n <= 0) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_count;
                continue;
            }
            (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
            if (i == 0 && !ready_seen && opts.on_ready && r.out.find("ready\n") != std::string::npos) {
                ready_seen = true;
                opts.on_ready(pid);
            }
        }
    }
    if (pidfd >= 0) ::close(pidfd);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    std::istringstream lines(r.out);
    std::string line, last_json;
    while (std::getline(lines, line))
        if (!line.empty() && line.front() == '{') last_json = line;
    if (!last_json.empty()) r.probe = nlohmann::json::parse(last_json, nullptr, false);
    return r;
}

RunResult run_probe(const std::vector<std::string>& args, const std::vector<std::string>& probe_args,
                    const RunOptions& opts) {
    // The build tree may be anywhere, /tmp included (which the sandbox replaces): the probe
    // is bound into the sandbox's /tmp.
    std::vector<std::string> all{"run", "--ro-bind", probe_path(), kProbeInside};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back("--");
    all.push_back(kProbeInside);
    all.insert(all.end(), probe_args.begin(), probe_args.end());
    return run_caisson(all, opts);
}

std::string host_ns(const std::string& kind) {
    return std::filesystem::read_symlink("/proc/self/ns/" + kind).string();
}

TempDir::TempDir(uid_t owner) {
    char tmpl[] = "/tmp/caisson-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
    ::chmod(path_.c_str(), 0755);
    if (owner && ::chown(path_.c_str(), owner, owner) < 0) throw std::runtime_error("chown");
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

Server::Server(std::vector<std::string> argv) {
    int err[2];
    if (::pipe2(err, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
        ::dup2(err[1], 2);
        std::vector<char*> a;
        for (auto& s : argv) a.push_back(s.data());
        a.push_back(nullptr);
        ::execv(a[0], a.data());
        ::_exit(127);
    }
    ::close(err[1]);
    err_ = err[0];
    char c;
    while (::read(err_, &c, 1) == 1 && c != '\n') first_line_ += c;
}

Server::~Server() {
    if (pid_ > 0) stop();
    ::close(err_);
}

int Server::stop() {
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string read_until_end(int fd, int idle_ms) {
    std::string out;
    char buf[512];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, idle_ms) <= 0) break;
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

std::string Server::rest_of_stderr() { return read_until_end(err_); }

void make_mini_rootfs(const std::string& dir, uid_t owner) {
    namespace fs = std::filesystem;
    for (const char* d : {"proc", "dev", "sys", "tmp", "etc", "bin"}) fs::create_directories(dir + "/" + d);
    fs::copy_file(probe_path(), dir + "/probe", fs::copy_options::overwrite_existing);
    ::chmod((dir + "/probe").c_str(), 0755);
    if (owner) {
        for (auto& e : fs::recursive_directory_iterator(dir)) {
            if (::lchown(e.path().c_str(), owner, owner) < 0) throw std::runtime_error("lchown");
        }
        if (::chown(dir.c_str(), owner, owner) < 0) throw std::runtime_error("chown");
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

void expect_refused(const std::vector<std::string>& args, const std::string& message, const RunOptions& opts) {
    std::vector<std::string> all{"run"};
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), {"--", "/bin/true"});
    RunResult r = run_caisson(all, opts);
    EXPECT_EQ(r.status, 125) << message;
    EXPECT_NE(r.err.find(message), std::string::npos) << message << " / " << r.err;
}

}  // namespace caisson::test

namespace caisson::test {

std::string write_seccomp_policy(const TempDir& dir, const std::string& text) {
    std::string path = dir.path() + "/policy.toml";
    std::ofstream(path) << "extends = \"default\"\n" << text;
    return path;
}

std::vector<nlohmann::json> audit_lines(const std::string& path) {
    std::vector<nlohmann::json> out;
    std::istringstream in(read_file(path));
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
    return out;
}

}  // namespace caisson::test

namespace caisson::test {

void KilledSupervisor::kill(pid_t caisson) {
    std::ifstream("/proc/" + std::to_string(caisson) + "/task/" + std::to_string(caisson) + "/children") >> init_;
    if (init_ > 0) init_pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, init_, 0));
    ::kill(caisson, SIGKILL);
}

void KilledSupervisor::collect() {
    if (collected_) return;
    collected_ = true;
    if (init_pidfd_ >= 0) {
        pollfd p{init_pidfd_, POLLIN, 0};
        EXPECT_EQ(::poll(&p, 1, 10000), 1) << "the sandbox's init outlived its killed caisson";
        ::close(init_pidfd_);
        init_pidfd_ = -1;
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    RunResult gc = run_caisson({"gc"});
    EXPECT_EQ(gc.status, 0) << gc.err;
}

KilledSupervisor::~KilledSupervisor() { collect(); }

}  // namespace caisson::test

namespace caisson::test {

std::string host_lacks(const std::string& check, const RunOptions& as) {
    RunResult r = run_caisson({"doctor", "--json"}, as);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(r.out);
    } catch (const std::exception&) {
        return "caisson doctor gave no report: " + r.err;
    }
    for (const auto& c : j["checks"])
        if (c["name"] == check) return c["status"] == "works" ? "" : c["detail"].get<std::string>();
    return "caisson doctor has no line \"" + check + "\"";
}

}  // namespace caisson::test
