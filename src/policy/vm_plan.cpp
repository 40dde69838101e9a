#include "policy/vm_plan.hpp"

#include "policy/net_address.hpp"
#include "policy/seccomp_profile.hpp"

#include <caisson/error.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <linux/capability.h>
#include <set>

namespace caisson::policy::vm {

uint64_t guest_memory_mb(const Policy& p) {
    uint64_t mb = p.resources.memory && *p.resources.memory != kUnlimited ? *p.resources.memory >> 20 : 256;
    return std::max<uint64_t>(mb, 128);
}

unsigned guest_cpus(const Policy& p) {
    if (!p.resources.cpus || *p.resources.cpus <= 0) return 1;
    return static_cast<unsigned>(std::min(64.0, std::ceil(*p.resources.cpus)));
}

std::vector<std::string> qemu_argv(const Machine& m) {
    const std::string mem = std::to_string(m.memory_mb) + "M";
    std::vector<std::string> a = {
        m.qemu,
        // microvm: no PCI, ACPI's tables only for a kernel that reads them; the PIT and PIC
        // because the guest's timer calibration needs them under software emulation. Its
        // memory is a shared memfd, which the file server maps to serve the guest's requests
        // (vhost-user).
        "-M", std::string("microvm,pit=on,pic=on,rtc=on,isa-serial=on,memory-backend=mem,acpi=") + (m.acpi ? "on" : "off"),
        "-global", "virtio-mmio.force-legacy=false",  // vhost-user serves modern virtio only
        // The translator's code cache: qemu's default for a whole system is 1 GiB. A boot and
        // one program translate some 40 MB of code, every page of it resident; a 24 MB cap
        // flushes it once or twice and translates again, 0.1 s more of a 1.2 s boot for 20 MB
        // less (docs/vm.md, bench/vm_boot.sh: 145 -> 125 MB with virtiofsd). KVM has no cache.
        "-accel", m.kvm ? "kvm" : "tcg,tb-size=24",
        "-cpu", m.kvm ? "host" : "max",
        "-smp", std::to_string(m.cpus),
        "-m", mem,
        "-object", "memory-backend-memfd,id=mem,size=" + mem + ",share=on",
        "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
        // qemu's own seccomp filter as well: no new processes, no privileges, no obsolete calls.
        "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        "-kernel", m.kernel,
        // A descriptor, not a path: no one can change what it holds (see run/vm_host).
        "-initrd", "/proc/self/fd/" + std::to_string(m.initramfs_fd),
        "-append", guest_cmdline(m.kvm, m.acpi),
        "-chardev", "socket,id=files,fd=" + std::to_string(m.files_fd),
        "-device", std::string("vhost-user-fs-device,chardev=files,tag=") + kRootTag,
        // One port, the wire (port 0 is a console's): the guest's driver fills a queue of
        // page-sized buffers for each port and the control queue, and makes queues for every
        // port the device may have (31 by default): 3.7 MB of the guest's memory, measured.
        // The balloon is never inflated: its free page reporting hands back the pages the
        // guest frees once it has booted (the compressed kernel, the initramfs, init's
        // sections), which the guest touched and qemu would otherwise keep. A kernel without
        // the driver leaves it idle.
        "-device", "virtio-balloon-device,free-page-reporting=on",
        "-device", "virtio-serial-device,max_ports=2",
        "-chardev", "socket,id=wire,fd=" + std::to_string(m.wire_fd),
        "-device", std::string("virtserialport,chardev=wire,nr=1,name=") + kPortName,
    };
    // --net user: one network device, its frames on a socket to passt, which alone touches
    // the host's network (qemu's jail has none).
    if (m.net_fd >= 0)
        a.insert(a.end(), {"-netdev", "socket,id=net,fd=" + std::to_string(m.net_fd), "-device",
                           "virtio-net-device,netdev=net,mac=52:54:00:12:34:56"});
    return a;
}

std::vector<std::string> passt_argv(const std::string& passt, int fd) {
    // --stderr: its words reach the console caisson quotes when a guest fails (else syslog).
    return {passt,          "--foreground", "--quiet",   "--stderr", "--fd",     std::to_string(fd), "--ipv4-only",
            "--address",    kGuestAddress,  "--netmask", std::to_string(kGuestPrefix),   "--gateway",
            kGuestGateway,  "--mtu",        std::to_string(kGuestMtu), "--no-map-gw",  "--no-dhcp",
            "--no-ndp",     "--no-dhcpv6",  "--no-ra",   "--tcp-ports", "none",          "--udp-ports",
            "none"};
}

std::string guest_cmdline(bool kvm, bool acpi) {
    // quiet: the console is a serial port, slow under emulation, and only read on failure.
    // panic=-1 with qemu's -no-reboot: a guest kernel that panics ends qemu; reboot=t: by a
    // triple fault, which needs nothing of the machine (a guest without ACPI powers off so).
    std::string c = "console=ttyS0 quiet panic=-1 reboot=t rdinit=/init 8250.nr_uarts=1 cryptomgr.notests random.trust_cpu=on ";
    if (!kvm) c += "tsc_early_khz=2000000 tsc=reliable no_timer_check lpj=4000000 ";
    // Without ACPI (no PM timer to calibrate against) the emulated local APIC's timer fails
    // the kernel's check after some 150 ms of calibrating it, and the PIT stands in for it
    // then: noapictimer goes there at once. (Debian's kernel with ACPI keeps its APIC timer;
    // without it that kernel hangs.)
    if (!kvm && !acpi) c += "noapictimer ";
    c += kGuestMarker;
    return c;
}

bool kernel_config_has_acpi(const std::string& config) {
    for (size_t at = 0; at < config.size();) {
        size_t nl = config.find('\n', at);
        if (nl == std::string::npos) nl = config.size();
        if (config.compare(at, nl - at, "# CONFIG_ACPI is not set") == 0) return false;
        at = nl + 1;
    }
    return true;
}

Egress passt_egress() {
    Egress e;
    for (const char* range : {"127.0.0.0/8", "0.0.0.0/8", "::/127", "::ffff:127.0.0.0/104", "::ffff:0.0.0.0/104"})
        for (auto& d : net_address::parse_destination(range, "passt's guard")) e.deny.push_back(std::move(d));
    return e;
}

bool kernel_config_builds_in(const std::string& config, const std::string& option) {
    const std::string line = option + "=y";
    for (size_t at = 0; at < config.size();) {
        size_t nl = config.find('\n', at);
        if (nl == std::string::npos) nl = config.size();
        if (config.compare(at, nl - at, line) == 0) return true;
        at = nl + 1;
    }
    return false;
}

bool built_for_guest(const std::string& file_name) {
    return file_name.rfind("vmlinuz-", 0) == 0 && file_name.ends_with("-caisson");
}

const std::vector<std::string>& guest_modules() {
    static const std::vector<std::string> m = {"virtio_mmio", "virtio_console", "virtiofs"};
    return m;
}

std::vector<std::string> module_order(const std::map<std::string, std::vector<std::string>>& depends,
                                      const std::vector<std::string>& wanted) {
    std::vector<std::string> order;
    std::set<std::string> done, visiting;
    std::function<void(const std::string&)> visit = [&](const std::string& m) {
        if (done.count(m)) return;
        if (!visiting.insert(m).second) throw Error::usage("guest kernel modules depend on each other in a cycle", m);
        auto it = depends.find(m);
        if (it == depends.end()) throw Error::usage("guest kernel module not found (is --vm-kernel a Debian kernel with its modules?)", m);
        for (const auto& d : it->second) visit(d);
        visiting.erase(m);
        done.insert(m);
        order.push_back(m);
    };
    for (const auto& m : wanted) visit(m);
    return order;
}

namespace {

void ro_bind_self(Policy& p, const std::string& path) {
    MountSpec m;
    m.kind = MountKind::RoBind;
    m.source = path;
    m.target = path;
    p.fs.mounts.push_back(m);
}

}  // namespace

Policy qemu_jail(const Machine& m, const std::vector<std::string>& argv, uint64_t guest_memory_mb, int landlock_abi) {
    if (landlock_abi < 1) throw Error::usage("--vm: qemu's jail needs Landlock, which this kernel does not offer");
    Policy p = default_policy();
    p.process.argv = argv;
    p.process.pass_fds = {m.wire_fd, m.files_fd};
    if (m.initramfs_fd >= 0) p.process.pass_fds.push_back(m.initramfs_fd);
    if (m.net_fd >= 0) p.process.pass_fds.push_back(m.net_fd);
    std::sort(p.process.pass_fds.begin(), p.process.pass_fds.end());
    p.hostname = "caisson-vmm";
    // The kernel may sit in a home (--vm-kernel), which the jail hides: it is shown,
    // read-only, at its own path.
    ro_bind_self(p, m.kernel);
    if (m.kvm) {
        // The host's node in the jail's minimal /dev, and the device cgroup's leave to use it.
        p.fs.device_nodes.push_back({"kvm", 10, 232});
        p.resources.devices.push_back({true, 'c', 10, 232, "rw"});
    }
    for (const char* dir : {"/usr/bin", "/usr/lib", "/lib", "/lib64", "/usr/share/qemu", "/usr/share/seabios"})
        p.landlock.paths.push_back({dir, LandlockAccess::ReadExec});
    // The initramfs, a memfd, needs no rule: Landlock does not govern files of the kernel's
    // internal mounts.
    for (const std::string& f : {m.kernel, std::string("/etc/ld.so.cache"), std::string("/dev/null"),
                                 std::string("/dev/urandom"), std::string("/proc"), std::string("/sys/devices/system")})
        p.landlock.paths.push_back({f, LandlockAccess::Read});
    if (m.kvm) p.landlock.paths.push_back({"/dev/kvm", LandlockAccess::ReadWrite});
    // Each part the kernel offers, enforced (the network namespace already holds qemu's
    // network; these close the same doors twice).
    p.landlock.restrict_bind = p.landlock.restrict_connect = landlock_abi >= 4;
    p.landlock.scope_abstract_unix = p.landlock.scope_signal = landlock_abi >= 6;
    // The path rules hold from ABI 1 (checked above); what an older kernel cannot restrict
    // (truncation, device ioctls) meets a read-only root anyway.
    p.landlock.best_effort = true;
    // The guest's memory is qemu's: the ceiling leaves room for it and for the translator.
    p.ceilings.memory = (guest_memory_mb + 768) << 20;
    // A compromised guest kernel ignores the guest's cgroup: --cpus holds qemu itself.
    p.resources.cpus = m.cpu_limit;
    return p;
}

Policy file_server_jail(const Policy& user, const std::string& virtiofsd, int listen_fd, const std::string& cwd,
                        const std::vector<std::string>& root_entries, const std::string& home, int landlock_abi) {
    if (landlock_abi < 1) throw Error::usage("--vm: the file server's jail needs Landlock, which this kernel does not offer");
    Policy p = default_policy();
    p.process.argv = {virtiofsd, "--fd=" + std::to_string(listen_fd), "-o", "source=/", "-o", "cache=always",
                      "-o", "sandbox=chroot", "-o", "log_level=err",
                      // RLIMIT_NOFILE stays: raising it needs CAP_SYS_RESOURCE.
                      "--rlimit-nofile=0", "-f"};
    p.process.pass_fds = {listen_fd};
    p.hostname = "caisson-vm-files";
    // What the program would see on the host, and no more. With --rootfs the program's paths
    // lie inside that directory: its masks and its mounts' targets are masked there, and the
    // host's /run and homes (which it would not see) stay hidden.
    const bool own_root = user.fs.rootfs != "/";
    auto in_view = [&](const std::string& path) { return own_root ? user.fs.rootfs + path : path; };
    p.fs.host_run = !own_root && user.fs.host_run;
    p.fs.host_homes = !own_root && user.fs.host_homes;
    p.fs.home = user.fs.home;
    p.fs.home_masks = user.fs.home_masks;
    for (const auto& m : user.fs.masked_paths) p.fs.masked_paths.push_back(in_view(m));
    std::vector<std::string> sources;
    for (const auto& m : user.fs.mounts)
        if ((m.kind == MountKind::Bind || m.kind == MountKind::RoBind) && m.source != "/") sources.push_back(m.source);
    if (user.fs.workdir && !cwd.empty() && cwd != "/") sources.push_back(cwd);
    // --rootfs: the directory at its own path, where the guest's caisson pivots into it.
    if (user.fs.rootfs != "/") sources.push_back(user.fs.rootfs);
    for (const auto& src : sources) ro_bind_self(p, src);
    // The host's files a mount of the program's covers stay covered here, unless a source the
    // guest's caisson binds from is there (masks come after the binds, and would hide it).
    auto covers_a_source = [&](const std::string& path) {
        for (const auto& src : sources)
            if (src == path || src.rfind(path + "/", 0) == 0 || path == "/") return true;
        return false;
    };
    for (const auto& m : user.fs.mounts) {
        const bool bind = m.kind == MountKind::Bind || m.kind == MountKind::RoBind;
        const std::string target = in_view(m.target);
        if ((!bind || target != m.source) && !covers_a_source(target)) p.fs.masked_paths.push_back(target);
    }
    for (const auto& f : user.bpf_lsm.deny_files)
        if (!covers_a_source(in_view(f))) p.fs.masked_paths.push_back(in_view(f));
    // Read-only for virtiofsd, and nothing of the jail's own kernel filesystems.
    p.landlock.paths.push_back({"/", LandlockAccess::ListDir});
    for (const auto& e : root_entries) {
        if (e == "proc" || e == "sys" || e == "dev" || e == "tmp" || (e == "run" && !user.fs.host_run)) continue;
        // Execute too: the jail itself starts virtiofsd and its loader from there.
        p.landlock.paths.push_back({"/" + e, LandlockAccess::ReadExec});
    }
    for (const auto& src : sources) p.landlock.paths.push_back({src, LandlockAccess::Read});
    // The one file of its jail's /proc virtiofsd reads for itself (its descriptor limit).
    p.landlock.paths.push_back({"/proc/sys/fs/file-max", LandlockAccess::Read});
    // --home's home, unless it is the root or beneath the kernel's filesystems (HOME=/ of a
    // service account would otherwise open the jail's /proc to reading).
    auto beneath = [&](const char* dir) { return home == dir || home.rfind(std::string(dir) + "/", 0) == 0; };
    if (user.fs.home && !home.empty() && home != "/" && !beneath("/proc") && !beneath("/sys") && !beneath("/dev"))
        p.landlock.paths.push_back({home, LandlockAccess::Read});
    p.landlock.scope_abstract_unix = p.landlock.scope_signal = landlock_abi >= 6;
    p.landlock.restrict_bind = p.landlock.restrict_connect = landlock_abi >= 4;
    // The path rules hold from ABI 1 (checked above); truncation (ABI 3) and device ioctls
    // (ABI 5), which an older kernel cannot restrict, meet read-only mounts anyway.
    p.landlock.best_effort = true;
    // virtiofsd keeps these to serve files as their owners; in a user namespace whose only
    // id is the jail's, they reach only what that id owns. SYS_CHROOT and SETPCAP for its own
    // confinement (chroot into the share, dropping the bounding set).
    for (int cap : {CAP_SYS_CHROOT, CAP_SETPCAP, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_SETGID,
                    CAP_SETUID, CAP_MKNOD, CAP_SETFCAP})
        p.capabilities.push_back(cap);
    std::sort(p.capabilities.begin(), p.capabilities.end());
    p.seccomp = seccomp_profile::parse_text(seccomp_profile::builtin_text("vm-file-server"), "builtin:vm-file-server");
    p.seccomp.name = "vm-file-server";
    return p;
}

}  // namespace caisson::policy::vm
