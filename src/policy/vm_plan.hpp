// What `caisson run --vm` builds, decided as data: qemu's command line, the guest kernel's
// command line, the guest's size, the order the guest loads its modules in, and the
// policies of the two jails on the host (qemu's and the file server's). No system calls.
#pragma once

#include <caisson/policy.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace caisson::policy::vm {

inline constexpr const char* kPortName = "org.caisson.io";  // the virtio-serial port of the wire
inline constexpr const char* kRootTag = "caisson-root";     // the virtiofs share of the host's files
inline constexpr const char* kGuestMarker = "caisson.vm_guest=1";  // on the guest kernel's command line

// --net user: the guest's network device, as passt is told to see it and the guest's caisson
// configures it in the sandbox (qemu's user-mode network's well-known addresses). Whatever
// the guest sends goes out through passt's sockets on the host, so these are names on a link
// of two, not a subnet of the host's: passt answers for every address on it.
inline constexpr const char* kGuestNic = "eth0";
inline constexpr const char* kGuestAddress = "10.0.2.15";
inline constexpr int kGuestPrefix = 24;
inline constexpr const char* kGuestGateway = "10.0.2.2";
inline constexpr int kGuestMtu = 65520;  // passt's own: frames travel as whole messages

struct Machine {
    std::string qemu;       // qemu-system-x86_64
    std::string kernel;
    int initramfs_fd = -1;  // a sealed memfd, read by qemu as /proc/self/fd/N
    uint64_t memory_mb = 256;
    unsigned cpus = 1;
    std::optional<double> cpu_limit;  // --cpus: CPU time per wall time for qemu's whole jail
    bool kvm = false;
    // The kernel reads microvm's ACPI tables (Debian's); false for one built without ACPI
    // (scripts/vm-kernel.sh), which is told its virtio devices on the command line instead.
    bool acpi = true;
    int wire_fd = -1;       // a connected stream socket: the wire
    int files_fd = -1;      // a connected stream socket to the file server (vhost-user)
    int net_fd = -1;        // --net user: a connected stream socket to passt; -1: no network device
};

// The guest's RAM: --memory (the sandbox's limit is the guest's size) or 256 MiB, at least
// 128 MiB (the kernel and its init need some 60). Its CPUs: --cpus rounded up, or 1.
uint64_t guest_memory_mb(const Policy& p);
unsigned guest_cpus(const Policy& p);

// qemu's arguments (argv[0] included): a microvm with virtio-mmio devices, no firmware
// tables it does not need, no network device but --net user's, no monitor, the serial console on standard
// output, qemu's own seccomp sandbox on.
std::vector<std::string> qemu_argv(const Machine& m);

// The guest kernel's command line. Under software emulation the TSC cannot be calibrated
// (no HPET on a microvm), so its frequency is given: without it a boot hangs now and then.
std::string guest_cmdline(bool kvm, bool acpi);

// Whether a kernel's configuration (the text of its config-V file) has ACPI.
bool kernel_config_has_acpi(const std::string& config);
// Whether it sets `option` ("CONFIG_VIRTIO_NET") built in (=y).
bool kernel_config_builds_in(const std::string& config, const std::string& option);

// passt's arguments (argv[0] included) for the guest's network device on `fd`: in the
// foreground, quiet, IPv4 alone, the guest's address, gateway and MTU said (no DHCP, NDP or
// router advertisements: the guest's caisson configures the device), no gateway mapping to
// the host's loopback, and no port of the host's forwarded to the guest.
std::vector<std::string> passt_argv(const std::string& passt, int fd);

// Where passt may not connect or send: the host's loopback and unspecified addresses, of
// either family (an address "0.0.0.0" reaches the host too). passt sends whatever the guest
// addresses, and a guest kernel of the program's making could address a frame to 127.0.0.1
// (its own kernel never routes one out of its device): in the kernel, by caisson's egress
// filter on passt's cgroup, as --net user's pasta keeps the sandbox off the host's loopback.
Egress passt_egress();

// Whether a kernel's file name (vmlinuz-V-caisson) is that of one scripts/vm-kernel.sh built
// for the guest: preferred by --vm, never the test guest's (which needs Debian's modules and
// BPF LSM), and without ACPI even where its config-V is missing.
bool built_for_guest(const std::string& file_name);

// The order to load `wanted` modules (file stems: "virtiofs") so that each comes after what
// it depends on (`depends`: a module's .modinfo "depends=" list). Throws caisson::Error for a
// module that is missing or a cycle.
std::vector<std::string> module_order(const std::map<std::string, std::vector<std::string>>& depends,
                                      const std::vector<std::string>& wanted);
// The modules a guest needs from a Debian kernel: virtio over MMIO, its console, virtiofs.
const std::vector<std::string>& guest_modules();

// qemu's jail: every namespace new (no network), the unprivileged `nobody`, no
// capabilities, caisson's default seccomp policy under qemu's own, and Landlock (enforced,
// not best effort): reading and executing only qemu, its libraries and firmware, and the
// kernel (the initramfs is a descriptor it is given); with `landlock_abi` 4 no TCP bind or connect, with 6 abstract sockets
// and signals scoped. Throws caisson::Error (usage) when the kernel has no Landlock.
Policy qemu_jail(const Machine& m, const std::vector<std::string>& argv, uint64_t guest_memory_mb, int landlock_abi);

// The file server's jail (virtiofsd on `listen_fd`): the program's own view of the host's
// files, as `user` makes it (hidden homes, --home and its masks, /run, masked paths), with
// every bind's source and, for --workdir, the caller's directory `cwd` shown read-only at
// their own paths (the guest's caisson, which parses the same arguments, finds them there),
// and what the program's own mounts and --lsm-deny-file cover masked. Landlock (enforced)
// lets virtiofsd list directories and read files beneath the root's entries `root_entries`
// but proc, sys, dev, run (unless --host-run) and tmp, beneath those sources and `home`
// (--home's), and write nothing: a guest kernel that sends requests of its own reaches
// neither the jail's /proc (another process's memory) nor its /dev, and cannot write.
// virtiofsd runs as root of a user namespace whose only id is the jail's (nobody for root):
// the capabilities it keeps reach only files that id owns. `user` with --rootfs is not
// served (the caller refuses it).
Policy file_server_jail(const Policy& user, const std::string& virtiofsd, int listen_fd, const std::string& cwd,
                        const std::vector<std::string>& root_entries, const std::string& home, int landlock_abi);

}  // namespace caisson::policy::vm
