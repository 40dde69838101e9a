// An attacker, run inside a caisson sandbox by the escape battery. Each attack tries one
// documented way out and prints "blocked: ERRNO" or "ESCAPED: what". It refuses to run
// unless its pid namespace differs from the one the test passed in: run unsandboxed as root,
// these attacks would hit the machine.
//   attacker HOST_PIDNS ATTACK [ARG]
#include <dirent.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int blocked(const char* what) {
    std::printf("blocked: %s (%s)\n", strerrorname_np(errno), what);
    return 0;
}

int escaped(const char* what) {
    std::printf("ESCAPED: %s\n", what);
    return 1;
}

// Returns 0 when blocked, 1 when the attack worked.
int attack(const std::string& name, const char* arg) {
    if (name == "host-keyring") {  // a uid the host shares: its user keyring is the host's
        long key = ::syscall(SYS_add_key, "user", "caisson-attack", "x", 1, -4 /* KEY_SPEC_USER_KEYRING */);
        if (key >= 0) {
            ::syscall(SYS_keyctl, 9 /* KEYCTL_UNLINK */, key, -4);  // the host's keyring as it was
            return escaped("added a key to the user keyring of a uid the host shares");
        }
        long id = ::syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4, 0);
        if (id >= 0) return escaped("reached the user keyring of a uid the host shares");
        std::printf("blocked: %s\n", strerrorname_np(errno));
        return 0;
    }
    if (name == "signal-exec") {  // CVE-2016-9962's window: a runtime's process between its setns and its exec
        // arg: "STOP:MARK" or "KILL:MARK". Every process whose command line holds MARK gets the
        // signal, as soon as it shows in this pid namespace (it is the runtime's, not exec'd
        // yet, while it still bears the runtime's arguments); for a minute.
        const std::string a = arg ? arg : "";
        const int sig = a.rfind("KILL:", 0) == 0 ? SIGKILL : SIGSTOP;
        const std::string mark = a.substr(a.find(':') + 1);
        const pid_t self = ::getpid();
        const time_t end = ::time(nullptr) + 60;
        while (::time(nullptr) < end) {
            DIR* d = ::opendir("/proc");
            if (!d) return 3;
            while (dirent* e = ::readdir(d)) {
                const pid_t pid = std::atoi(e->d_name);
                if (pid <= 1 || pid == self) continue;
                char path[64], cmd[4096];
                std::snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
                int fd = ::open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) continue;
                ssize_t n = ::read(fd, cmd, sizeof cmd - 1);
                ::close(fd);
                if (n <= 0) continue;
                for (ssize_t i = 0; i < n; ++i)
                    if (cmd[i] == '\0') cmd[i] = ' ';
                cmd[n] = '\0';
                // The runtime's own words are before the mark ("caisson-oci exec ... MARK"): an
                // exec'd program's command line is only the program's.
                if (std::strstr(cmd, mark.c_str()) && std::strstr(cmd, "caisson-oci") && ::kill(pid, sig) == 0)
                    std::printf("signalled %d: %s\n", pid, cmd);
            }
            ::closedir(d);
        }
        return 0;
    }
    if (name == "proc-exe-write") {  // CVE-2019-5736: overwrite the runtime through init's exe
        int fd = ::open("/proc/1/exe", O_WRONLY | O_CLOEXEC);
        if (fd < 0) fd = ::open("/proc/1/exe", O_RDONLY | O_CLOEXEC);
        return fd < 0 ? blocked("open /proc/1/exe") : escaped("opened /proc/1/exe");
    }
    if (name == "leaked-fds") {  // CVE-2024-21626: any descriptor beyond 0, 1, 2?
        for (int fd = 3; fd < 1024; ++fd)
            if (::fcntl(fd, F_GETFD) >= 0) return escaped("found an inherited descriptor");
        errno = EBADF;
        return blocked("no descriptor beyond 0, 1, 2");
    }
    if (name == "cwd-outside-root") {  // CVE-2024-21626: started in a directory outside the root?
        // From inside the root, enough `..` end at the root itself; from outside it, they end
        // at the host's real root, which the sandbox's "/" is not.
        std::string up = ".";
        for (int i = 0; i < 64; ++i) up += "/..";
        // The mount too: a root bound from the host's "/" has the same inode as the host's.
        struct statx top{}, root{};
        if (::statx(AT_FDCWD, up.c_str(), 0, STATX_INO | STATX_MNT_ID, &top) < 0 ||
            ::statx(AT_FDCWD, "/", 0, STATX_INO | STATX_MNT_ID, &root) < 0) return blocked("stat of the working directory's top");
        if (top.stx_mnt_id != root.stx_mnt_id || top.stx_ino != root.stx_ino) return escaped("the working directory is outside the root");
        errno = 0;
        return blocked("the working directory is inside the root");
    }
    if (name == "vsock") {  // a channel to the hypervisor and other guests: vsock is in no network namespace
        int s = ::socket(40 /* AF_VSOCK */, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) return blocked("socket(AF_VSOCK)");
        struct {
            unsigned short family, reserved;
            unsigned port, cid;
            unsigned char zero[4];
        } addr{40, 0, 4242, 0xffffffffu /* VMADDR_CID_ANY */, {}};
        if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 || ::listen(s, 1) < 0) return blocked("bind/listen on vsock");
        return escaped("listening on vsock port 4242, outside every network namespace");
    }
    if (name == "nested-userns-remount") {  // capabilities in a nested user namespace
        if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) return blocked("unshare");
        if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND, nullptr) == 0) return escaped("remounted / read-write");
        int e = errno;
        if (::umount2("/proc", MNT_DETACH) == 0) return escaped("unmounted /proc to uncover the host's");
        errno = e;
        return blocked("remount / rw, umount /proc");
    }
    if (name == "mknod-block") {
        if (::mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)) == 0) return escaped("made a block device");
        return blocked("mknod");
    }
    if (name == "load-module") {
        if (::syscall(SYS_finit_module, 0, "", 0) == 0 || errno != EPERM) {
            if (errno == EPERM) return blocked("finit_module");
            return errno == EBADF || errno == EINVAL ? escaped("finit_module reached argument checks") : blocked("finit_module");
        }
        return blocked("finit_module");
    }
    if (name == "reboot") {
        if (::syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, nullptr) == 0)
            return escaped("reboot syscall accepted");
        return blocked("reboot");
    }
    if (name == "set-clock") {
        timespec ts{};
        ::clock_gettime(CLOCK_REALTIME, &ts);
        if (::clock_settime(CLOCK_REALTIME, &ts) == 0) return escaped("set the realtime clock");
        return blocked("clock_settime");
    }
    if (name == "sysrq") {
        int fd = ::open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) return escaped("opened /proc/sysrq-trigger for writing");
        return blocked("open /proc/sysrq-trigger");
    }
    if (name == "proc-sys") {
        int fd = ::open("/proc/sys/kernel/core_pattern", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) return escaped("opened core_pattern for writing");
        return blocked("open /proc/sys/kernel/core_pattern");
    }
    if (name == "opener-takeover") {  // the [open] helper has no filter: take it over?
        pid_t opener = 0;
        for (pid_t pid = 2; pid < 64 && !opener; ++pid) {
            char path[32], comm[32] = {};
            std::snprintf(path, sizeof(path), "/proc/%d/comm", pid);
            int c = ::open(path, O_RDONLY | O_CLOEXEC);
            if (c < 0) continue;
            if (::read(c, comm, sizeof(comm) - 1) > 0 && std::strcmp(comm, "caisson-opener\n") == 0) opener = pid;
            ::close(c);
        }
        if (!opener) return std::printf("setup: no caisson-opener among the sandbox's processes\n"), 2;
        if (::ptrace(PTRACE_ATTACH, opener, nullptr, nullptr) == 0) return escaped("attached to the opener");
        int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, opener, 0));
        if (pidfd >= 0 && ::syscall(SYS_pidfd_getfd, pidfd, 3, 0) >= 0) return escaped("took the opener's socket");
        char mem[32];
        std::snprintf(mem, sizeof(mem), "/proc/%d/mem", opener);
        if (::open(mem, O_RDWR | O_CLOEXEC) >= 0) return escaped("opened the opener's memory");
        char buf[8];
        iovec local{buf, sizeof(buf)}, remote{reinterpret_cast<void*>(0x400000), sizeof(buf)};
        if (::process_vm_readv(opener, &local, 1, &remote, 1, 0) > 0) return escaped("read the opener's memory");
        return blocked("ptrace, pidfd_getfd, /proc/PID/mem and process_vm_readv on the opener");
    }
    if (name == "ptrace-init") {
        if (::ptrace(PTRACE_ATTACH, 1, nullptr, nullptr) == 0) return escaped("attached to init");
        return blocked("ptrace pid 1");
    }
    if (name == "kill-all") {  // signal every process it can reach; the test checks a host canary
        ::signal(SIGTERM, SIG_IGN);
        ::kill(-1, SIGKILL);
        errno = 0;
        return blocked("kill(-1) (the test checks the host's canary)");
    }
    if (name == "abstract-socket") {  // the host listens on an abstract socket named ARG
        int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path + 1, arg ? arg : "", sizeof(addr.sun_path) - 2);
        socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + std::strlen(addr.sun_path + 1));
        if (::connect(s, reinterpret_cast<sockaddr*>(&addr), len) == 0) return escaped("connected to the host's abstract socket");
        return blocked("connect abstract socket");
    }
    if (name == "reconnect-stdin") {  // the connection `caisson listen` gave: disconnect it, connect it to loopback port ARG
        sockaddr unspec{};
        unspec.sa_family = AF_UNSPEC;
        (void)::connect(0, &unspec, sizeof(unspec));
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(static_cast<uint16_t>(std::atoi(arg ? arg : "0")));
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) return escaped("connected stdin to the host's loopback");
        const int err = errno;
        const char byte = 'x';  // a connection opened by the first send: Fast Open
        if (::sendto(0, &byte, 1, MSG_FASTOPEN, reinterpret_cast<sockaddr*>(&to), sizeof(to)) >= 0)
            return escaped("connected stdin by Fast Open");
        errno = err;
        return blocked("connect stdin elsewhere");
    }
    if (name == "raw-socket") {
        if (::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) >= 0) return escaped("opened a raw socket");
        if (::socket(AF_PACKET, SOCK_RAW, 0) >= 0) return escaped("opened a packet socket");
        return blocked("raw and packet sockets");
    }
    if (name == "open-by-handle") {  // "shocker": needs CAP_DAC_READ_SEARCH in the host's namespace
        struct {
            file_handle h;
            unsigned char bytes[8];
        } handle{};
        handle.h.handle_bytes = 8;
        handle.h.handle_type = 1;
        int fd = static_cast<int>(::syscall(SYS_open_by_handle_at, AT_FDCWD, &handle.h, O_RDONLY));
        if (fd >= 0) return escaped("open_by_handle_at succeeded");
        return blocked("open_by_handle_at");
    }
    if (name == "hostname") {
        if (::sethostname("pwned", 5) == 0) {
            char h[64] = {};
            ::gethostname(h, sizeof(h) - 1);
            std::printf("changed the sandbox's own hostname to %s (the test checks the host's)\n", h);
            return 0;
        }
        return blocked("sethostname");
    }
    if (name == "x32-unshare") {  // the same call through the x32 ABI, to dodge the filter
        long rc = ::syscall(SYS_unshare | 0x40000000, CLONE_NEWUSER);
        return rc < 0 ? blocked("x32 unshare") : escaped("x32 unshare ran");
    }
    if (name == "int80-unshare") {  // and through the i386 ABI (unshare is 310 there)
        long ret = 310;
        long flags = CLONE_NEWUSER;
        asm volatile("int $0x80" : "+a"(ret) : "b"(flags) : "memory");
        errno = ret < 0 ? static_cast<int>(-ret) : 0;
        return ret < 0 ? blocked("i386 unshare") : escaped("i386 unshare ran");
    }
    if (name == "kernel-surface") {  // interfaces that widen the kernel's attack surface
        struct {
            const char* what;
            long rc;
        } const calls[] = {
            {"keyctl", ::syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3L, 0)},
            {"add_key", ::syscall(SYS_add_key, "user", "caisson", "x", 1, -3L)},
            {"request_key", ::syscall(SYS_request_key, "user", "caisson", nullptr, 0)},
            {"bpf", ::syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, nullptr, 0)},
            {"userfaultfd", ::syscall(SYS_userfaultfd, O_CLOEXEC)},
            {"perf_event_open", ::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0)},
            {"io_uring_setup", ::syscall(SYS_io_uring_setup, 1, nullptr)},
            {"process_vm_writev", ::syscall(SYS_process_vm_writev, 1, nullptr, 0, nullptr, 0, 0)},
            {"kcmp", ::syscall(SYS_kcmp, 1, 1, 0, 0, 0)},
        };
        for (const auto& c : calls)
            if (c.rc >= 0 || errno != EPERM) {
                std::printf("ESCAPED: %s returned %ld (%s)\n", c.what, c.rc, strerrorname_np(errno));
                return 1;
            }
        errno = EPERM;
        return blocked("keyctl, add_key, request_key, bpf, userfaultfd, perf_event_open, io_uring, "
                       "process_vm_writev, kcmp");
    }
    if (name == "kernel-addresses") {  // /proc/kcore and kernel symbol addresses
        int fd = ::open("/proc/kcore", O_RDONLY | O_CLOEXEC);
        char buf[4096];
        if (fd >= 0) {
            ssize_t n = ::read(fd, buf, sizeof(buf));
            ::close(fd);
            if (n > 0) return escaped("read /proc/kcore");
        }
        FILE* f = std::fopen("/proc/kallsyms", "r");
        while (f && std::fgets(buf, sizeof(buf), f))
            if (std::strtoull(buf, nullptr, 16) != 0) {
                std::fclose(f);
                return escaped("read a kernel address in /proc/kallsyms");
            }
        if (f) std::fclose(f);
        errno = EACCES;
        return blocked("kcore empty or closed, kallsyms zeroed");
    }
    if (name == "cgroup-escape") {  // reach a cgroup hierarchy to move out of the sandbox's
        if (::mount("cgroup2", "/tmp", "cgroup2", 0, nullptr) == 0) return escaped("mounted cgroup2");
        int e = errno;
        if (::mount("cgroup", "/tmp", "cgroup", 0, "memory") == 0) return escaped("mounted cgroup v1");
        errno = e;
        return blocked("mount cgroupfs");
    }
    if (name == "report-euid") {  // run setuid: did exec raise the effective uid?
        errno = EPERM;
        return ::geteuid() != ::getuid() || ::geteuid() == 0 ? escaped("setuid raised the euid")
                                                           : blocked("setuid gave nothing");
    }
    if (name == "fork-bomb") {
        int made = 0;
        while (made < 100000) {
            pid_t p = ::fork();
            if (p < 0) break;
            if (p == 0) {
                ::pause();
                ::_exit(0);
            }
            ++made;
        }
        if (made >= 100000) return escaped("forked 100000 processes");
        // The children pause; the sandbox's end takes them along.
        std::printf("blocked: %s (after %d processes)\n", strerrorname_np(errno), made);
        return 0;
    }
    if (name == "inotify-flood") {  // take every inotify instance the kernel would give, then hold them
        int made = 0;
        while (made < 100000 && ::inotify_init1(IN_CLOEXEC) >= 0) ++made;
        if (made >= 100000) return escaped("took 100000 inotify instances");
        std::printf("blocked: %s (after %d instances)\n", strerrorname_np(errno), made);
        std::fflush(stdout);
        ::pause();  // held until the test has looked at the host
        return 0;
    }
    if (name == "fill-disk") {  // write until the sandbox's /tmp is full
        int fd = ::open("/tmp/fill", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) return blocked("open /tmp/fill");
        static char block[1 << 16];
        long long total = 0;
        ssize_t n;
        while ((n = ::write(fd, block, sizeof(block))) > 0) total += n;
        ::close(fd);
        if (total > (1ll << 30)) return escaped("wrote over 1 GiB to /tmp");
        std::printf("blocked: %s (after %lld bytes)\n", strerrorname_np(errno), total);
        return 0;
    }
    std::printf("unknown attack %s\n", name.c_str());
    return 3;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return 3;
    char ns[64] = {};
    if (::readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1) < 0 || std::string(ns) == argv[1]) {
        std::printf("refusing: not inside a sandbox (pid namespace %s)\n", ns);
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    return attack(argv[2], argc > 3 ? argv[3] : nullptr);
}
