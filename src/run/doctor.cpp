// `caisson doctor`: each mechanism caisson uses, measured on this host for the user who
// asks, with the very probes the run path uses (mech/namespaces, mech/pasta, mech/landlock,
// mech/bpf_lsm, mech/egress, mech/cgroup_detect, mech/overlay), and the default sandbox run
// for real.
#include <caisson/doctor.hpp>

#include "kernel/fd.hpp"
#include "kernel/syscalls.hpp"
#include "mech/bpf_lsm.hpp"
#include "mech/cgroup_detect.hpp"
#include "mech/egress.hpp"
#include "mech/in_child.hpp"
#include "mech/landlock.hpp"
#include "mech/namespaces.hpp"
#include "mech/overlay.hpp"
#include "mech/pasta.hpp"
#include "policy/vm_plan.hpp"

#include <caisson/error.hpp>
#include <caisson/sandbox.hpp>
#include <caisson/vm.hpp>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string.h>


namespace caisson::doctor {
namespace {

Check works(std::string name, std::string detail) { return {std::move(name), Status::Works, std::move(detail), ""}; }
Check fails(std::string name, std::string detail, std::string fix = "") {
    return {std::move(name), Status::Fails, std::move(detail), std::move(fix)};
}
Check not_applicable(std::string name, std::string detail) { return {std::move(name), Status::NotApplicable, std::move(detail), ""}; }

// The first program of that name along PATH, "" when there is none.
std::string on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
    for (std::string dir; std::getline(dirs, dir, ':');)
        if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
    return "";
}

std::string user_name(uid_t uid) {
    std::ifstream in("/etc/passwd");
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string name, pw, id;
        if (std::getline(f, name, ':') && std::getline(f, pw, ':') && std::getline(f, id, ':') && id == std::to_string(uid))
            return name;
    }
    return std::to_string(uid);
}

void namespaces(Report& r, bool root) {
    std::string own = mech::namespaces_unavailable(CLONE_NEWUSER);
    if (own.empty()) r.checks.push_back(works("user namespaces", root ? "root can make them" : "this user can make them"));
    else r.checks.push_back(fails("user namespaces", own, root ? "" : "or run caisson as root"));
    if (root) {
        std::string others = mech::namespaces_unavailable(CLONE_NEWUSER, 65534);
        if (others.empty()) r.checks.push_back(works("user namespaces (ordinary users)", "uid 65534 can make them: rootless caisson works"));
        else r.checks.push_back(fails("user namespaces (ordinary users)", others));
    }
    struct Kind {
        const char* name;
        int flag;
    };
    constexpr Kind kKinds[] = {{"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID},       {"network", CLONE_NEWNET}, {"uts", CLONE_NEWUTS},
                               {"ipc", CLONE_NEWIPC},  {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME}};
    const uint64_t user = own.empty() ? CLONE_NEWUSER : 0;
    for (const auto& k : kKinds) {
        std::string name = std::string(k.name) + " namespace";
        if (!root && !user) {
            r.checks.push_back(not_applicable(name, "needs a user namespace, which this user cannot make"));
            continue;
        }
        std::string why = mech::namespaces_unavailable(user | static_cast<uint64_t>(k.flag));
        r.checks.push_back(why.empty() ? works(name, user ? "in a user namespace of its own" : "as root") : fails(name, why));
    }
}

void subordinate_ids(Report& r, bool root) {
    const char* name = "subordinate ids";
    if (root) return r.checks.push_back(not_applicable(name, "root maps any ids (caisson maps the caller's own ids rootless)"));
    uid_t uid = ::getuid();
    std::string user = user_name(uid);
    bool listed = false;
    std::ifstream in("/etc/subuid");
    for (std::string line; std::getline(in, line);) {
        std::string who = line.substr(0, line.find(':'));
        listed |= who == user || who == std::to_string(uid);
    }
    struct stat st{};
    bool helper = ::stat("/usr/bin/newuidmap", &st) == 0 && (st.st_mode & S_ISUID);
    if (listed && helper) return r.checks.push_back(works(name, user + " has a range in /etc/subuid; newuidmap is setuid"));
    r.checks.push_back(fails(name, std::string(listed ? "" : user + " has no range in /etc/subuid") + (listed || helper ? "" : "; ") +
                                       (helper ? "" : "newuidmap is missing or not setuid"),
                             "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 " + user +
                                 " (rootless podman needs them; caisson run does not)"));
}

// The v2 directory this process is in, "" without v2.
std::string own_v2_cgroup(const mech::CgroupLayout& l) {
    if (l.v2.empty()) return "";
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("0::", 0) == 0) return l.v2 + line.substr(3);
    return "";
}

// Whether the cgroup2 mount at `v2` has the favordynmods option (mountinfo's super options).
bool favors_dynmods(const std::string& v2) {
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, point, opts, field;
        f >> id >> parent >> dev >> root >> point >> opts;
        if (point != v2) continue;
        while (f >> field && field != "-") {
        }
        std::string type, source, super;
        f >> type >> source >> super;
        if (type == "cgroup2" && ("," + super + ",").find(",favordynmods,") != std::string::npos) return true;
    }
    return false;
}

// A sandbox's v1 groups are joined by writing cgroup.procs (v1 has no CLONE_INTO_CGROUP),
// which takes the kernel's cgroup_threadgroup_rwsem for writing: when no migration ran in the
// last grace period, that waits for a full RCU grace period (perf: synchronize_rcu_normal
// under cgroup_procs_write). A start that comes alone pays it; starts back to back do not.
Check cgroup_migrations(const mech::CgroupLayout& l) {
    const char* name = "cgroup migrations";
    if (!l.v2.empty() && favors_dynmods(l.v2))
        return works(name, "favordynmods is set: joining the v1 memory and pids groups waits for no RCU grace period");
    const std::string how = l.v2.empty() ? "a cgroup hierarchy mounted with favordynmods"
                                         : "`mount -o remount,favordynmods " + l.v2 + "`";
    return works(name, "each start joins its v1 memory and pids groups by a migration, which waits for an RCU grace period when "
                       "none ran lately (19 ms of a 27 ms start that came alone, on the machine docs/performance.md measured); "
                       "on Linux 6.0 and later " + how + " removes that wait, at a cost to every fork and exit (from Linux "
                       "6.18 the kernel keeps it until reboot)");
}

void cgroups(Report& r, bool root) {
    mech::CgroupLayout l = mech::detect_cgroups();
    std::string v1, v2;
    for (const auto& [c, path] : l.v1) v1 += (v1.empty() ? "" : " ") + c;
    for (const auto& c : l.v2_controllers) v2 += (v2.empty() ? "" : " ") + c;
    std::string detail = std::string(l.mode()) + (l.v1.empty() ? "" : "; v1: " + v1) +
                         (l.v2.empty() ? "" : "; v2 at " + l.v2 + ": " + (v2.empty() ? "no controllers" : v2));
    if (std::string(l.mode()) == "none") r.checks.push_back(fails("cgroups", "no cgroup hierarchy is mounted", "mount cgroup2 on /sys/fs/cgroup"));
    else r.checks.push_back(works("cgroups", detail));
    if (root && (l.v1.count("memory") || l.v1.count("pids"))) r.checks.push_back(cgroup_migrations(l));
    if (root) return r.checks.push_back(works("cgroup delegation", "root creates the sandboxes' cgroups"));
    std::string own = own_v2_cgroup(l);
    if (!own.empty() && ::access((own + "/cgroup.procs").c_str(), W_OK) == 0 && ::access(own.c_str(), W_OK) == 0)
        return r.checks.push_back(works("cgroup delegation", "this user may write " + own + " (--cgroup-parent below it)"));
    r.checks.push_back(fails("cgroup delegation", "this user owns no cgroup subtree: --memory and the like are refused, the default "
                                                  "ceilings fall back to rlimits",
                             "systemd-run --user --scope -p Delegate=yes caisson run --cgroup-parent ..."));
}

void seccomp(Report& r) {
    uint32_t notify = SECCOMP_RET_USER_NOTIF;
    if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
        return r.checks.push_back(fails("seccomp", std::string("prctl(PR_GET_SECCOMP): ") + strerrorname_np(errno), "a kernel with CONFIG_SECCOMP_FILTER"));
    if (::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &notify) < 0)
        return r.checks.push_back(fails("seccomp", "filters work, user notification does not: [[supervise]], [open] and learn need it (Linux 5.0)"));
    // SYNC_WAKE_UP (Linux 6.6): a filter with a listener, in a child.
    int err = mech::in_child([] {
        sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
        sock_fprog prog{1, allow};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return errno;
        int fd = static_cast<int>(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
        if (fd < 0) return errno;
        return ::ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0) < 0 ? errno : 0;
    });
    r.checks.push_back(works("seccomp", std::string("filters and user notification") +
                                            (err ? std::string("; SYNC_WAKE_UP not here (") + strerrorname_np(err) + "): supervised calls cost more"
                                                 : "; SYNC_WAKE_UP")));
}

void landlock(Report& r) {
    int abi = mech::landlock_abi();
    if (abi > 0) return r.checks.push_back(works("Landlock", "ABI " + std::to_string(abi)));
    r.checks.push_back(fails("Landlock", "the kernel has no Landlock (or it is not among the active LSMs)",
                             "boot with lsm=...,landlock (Linux 5.13 or later); --landlock-best-effort runs without it"));
}

// A scratch cgroup v2 directory for the BPF probes, removed at the end.
class ScratchCgroup {
public:
    explicit ScratchCgroup(const std::string& v2) : path_(v2 + "/caisson-doctor-" + std::to_string(::getpid())) {
        if (::mkdir(path_.c_str(), 0755) == 0) fd_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        else err_ = errno;
    }
    ~ScratchCgroup() {
        fd_.reset();
        if (!err_) ::rmdir(path_.c_str());
    }
    int fd() const { return fd_.get(); }
    int err() const { return err_; }

private:
    std::string path_;
    kernel::Fd fd_;
    int err_ = 0;
};

void bpf(Report& r, bool root) {
    if (!root) {
        r.checks.push_back(not_applicable("BPF LSM", "root only"));
        r.checks.push_back(not_applicable("cgroup BPF (egress rules)", "root only"));
        return;
    }
    mech::CgroupLayout l = mech::detect_cgroups();
    if (l.v2.empty()) {
        r.checks.push_back(fails("BPF LSM", "no cgroup v2 hierarchy to attach to", "mount cgroup2"));
        r.checks.push_back(fails("cgroup BPF (egress rules)", "no cgroup v2 hierarchy to attach to", "mount cgroup2"));
        return;
    }
    ScratchCgroup scratch(l.v2);
    if (scratch.fd() < 0) {
        std::string why = std::string("cannot make a cgroup under ") + l.v2 + " (" + strerrorname_np(scratch.err()) + ")";
        r.checks.push_back(fails("BPF LSM", why));
        r.checks.push_back(fails("cgroup BPF (egress rules)", why));
        return;
    }
    std::string lsm_off = mech::bpf_lsm_unavailable();
    if (!lsm_off.empty()) {
        r.checks.push_back(fails("BPF LSM", lsm_off,
                                 lsm_off.find("securityfs") != std::string::npos
                                     ? "mount -t securityfs securityfs /sys/kernel/security, then look again"
                                     : "boot with lsm=...,bpf; --lsm-best-effort runs without it"));
    } else {
        try {
            BpfLsm p;
            p.exec_max = 1000;
            mech::BpfLsmPrograms programs(scratch.fd(), p);
            r.checks.push_back(works("BPF LSM", "\"bpf\" is an active LSM and lsm_cgroup programs attach"));
        } catch (const Error& e) {
            r.checks.push_back(fails("BPF LSM", std::string("\"bpf\" is an active LSM, but the kernel refuses the programs: ") + e.what(),
                                     "--lsm-best-effort runs without them"));
        }
    }
    try {
        Egress e;
        e.restrict = true;
        mech::EgressFilter filter(scratch.fd(), e);
        r.checks.push_back(works("cgroup BPF (egress rules)", "connect/sendmsg programs attach to a cgroup v2 directory"));
    } catch (const Error& e) {
        r.checks.push_back(fails("cgroup BPF (egress rules)", e.what()));
    }
}

void mounts(Report& r) {
    std::string why = mech::overlay_in_userns_unavailable();
    if (why.empty()) r.checks.push_back(works("overlay in a user namespace", "--overlay works without root"));
    else r.checks.push_back(fails("overlay in a user namespace", why, "Linux 5.11 or later for overlay in a user namespace; as root --overlay still works"));
}

void network(Report& r, bool root) {
    std::string pasta = mech::find_pasta();
    if (pasta.empty()) {
        r.checks.push_back(fails("pasta (--net user)", "pasta is not installed", "apt-get install passt"));
    } else {
        std::string tun = mech::tun_unusable(::getuid());
        if (tun.empty()) r.checks.push_back(works("pasta (--net user)", pasta + "; /dev/net/tun is usable"));
        else r.checks.push_back(fails("pasta (--net user)", tun.substr(tun.find("pasta")), "chmod 0666 /dev/net/tun, or run as root"));
    }
    if (!root) return r.checks.push_back(not_applicable("veth and nftables (--net veth)", "root only"));
    std::string ip = on_path("ip");
    if (ip.empty()) return r.checks.push_back(fails("veth and nftables (--net veth)", "iproute2 is missing", "apt-get install iproute2"));
    // A veth pair in a throwaway network namespace: the kernel's answer, nothing on the host.
    int err = mech::in_child([&] {
        if (::unshare(CLONE_NEWNET) < 0) return errno;
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1), ::dup2(null, 2);
        return std::system((ip + " link add caisson-doc0 type veth peer name caisson-doc1").c_str()) == 0 ? 0 : EOPNOTSUPP;
    });
    if (err) r.checks.push_back(fails("veth and nftables (--net veth)", std::string("a veth pair could not be made (") + strerrorname_np(err) + ")",
                                      "a kernel with CONFIG_VETH and CONFIG_BRIDGE"));
    else r.checks.push_back(works("veth and nftables (--net veth)", "a veth pair can be made; NAT is made by caisson-net with libnftables"));
}

void guest(Report& r) {
    std::string qemu = on_path("qemu-system-x86_64");
    std::string kernel;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator("/var/cache/caisson-guest", ec))
        for (auto& k : std::filesystem::directory_iterator(e.path() / "boot", ec))
            // Debian's cloud kernel, not the one built for --vm (vmlinuz-V-caisson).
            if (std::string n = k.path().filename().string(); n.rfind("vmlinuz-", 0) == 0 && !policy::vm::built_for_guest(n))
                kernel = k.path().string();
    if (qemu.empty()) return r.checks.push_back(fails("qemu and its guest kernel", "qemu-system-x86_64 is not installed (the cgroup v2 and BPF LSM tests run in it)",
                                                      "apt-get install qemu-system-x86 (make check installs it)"));
    if (kernel.empty()) return r.checks.push_back(fails("qemu and its guest kernel", "no guest kernel in /var/cache/caisson-guest", "make check fetches it (scripts/setup.sh)"));
    kernel::Fd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    r.checks.push_back(works("qemu and its guest kernel", qemu + ", " + kernel + "; " +
                                                          (kvm ? "KVM" : std::string("software emulation (TCG): /dev/kvm ") + strerrorname_np(errno))));
}

// `caisson run --vm`: qemu, virtiofsd and a guest kernel; software emulation unless KVM
// can be used (docs/vm.md).
void vm_rung(Report& r) {
    VmSupport v = vm_support();
    if (!v.usable) return r.checks.push_back(fails("caisson run --vm", v.why, "scripts/setup.sh installs qemu and unpacks the guest kernel"));
    std::string accel = "KVM";
    if (v.accel != "kvm") {
        struct stat st{};
        accel = ::stat("/dev/kvm", &st) != 0 ? "software emulation (TCG): no /dev/kvm"
                : ::geteuid() != 0 ? "software emulation (TCG): KVM is for root's runs (the jail's device rule is a cgroup BPF program)"
                : (st.st_mode & 0006) != 0006 ? "software emulation (TCG): /dev/kvm is not open to qemu's jail (nobody): mode 0666 would be"
                                                : "software emulation (TCG): /dev/kvm does not answer";
    }
    std::string carried = v.overlay && v.net_user ? "; --overlay and --net user carried"
                          : v.overlay                ? "; --overlay carried, not --net user (no virtio network device, or no passt)"
                          : v.net_user               ? "; --net user carried, not --overlay"
                                                     : "; not --overlay nor --net user (scripts/vm-kernel.sh builds a kernel that carries both)";
    r.checks.push_back(works("caisson run --vm", accel + ", guest kernel " + v.kernel + carried));
}

void oci_clients(Report& r) {
    std::string found;
    for (const char* c : {"podman", "docker", "ctr", "containerd", "crun", "runc", "conmon"})
        if (!on_path(c).empty()) found += (found.empty() ? "" : " ") + std::string(c);
    if (found.empty()) r.checks.push_back(not_applicable("OCI clients", "none installed (podman, docker, containerd: caisson-oci is their runtime)"));
    else r.checks.push_back(works("OCI clients", found));
}

}  // namespace

const char* status_name(Status s) {
    switch (s) {
        case Status::Works: return "works";
        case Status::Fails: return "fails";
        case Status::NotApplicable: return "n/a";
    }
    return "?";
}

Report examine() {
    Report r;
    const bool root = ::geteuid() == 0;
    namespaces(r, root);
    subordinate_ids(r, root);
    cgroups(r, root);
    seccomp(r);
    landlock(r);
    bpf(r, root);
    mounts(r);
    network(r, root);
    guest(r);
    vm_rung(r);
    oci_clients(r);
    // The real thing: a default sandbox of /bin/true.
    try {
        Policy p = default_policy();
        p.process.argv = {"/bin/true"};
        Outcome out = Sandbox(std::move(p)).run();
        r.default_run_works = out.exited && out.exit_code == 0;
        if (!r.default_run_works) r.default_run_error = "/bin/true did not exit 0";
    } catch (const Error& e) {
        r.default_run_error = e.what();
    }
    if (!r.default_run_works && !mech::namespaces_unavailable(CLONE_NEWUSER).empty())
        r.best_available = "caisson run --no-namespaces: no_new_privs, the seccomp filter, Landlock, rlimits and the supervisor, without namespaces";
    return r;
}

}  // namespace caisson::doctor
