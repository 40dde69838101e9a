// The virtualization rung (`caisson run --vm`): the program runs in a guest kernel of its
// own, and inside that guest under the very same caisson policy. On the host, qemu and the
// file server that shows the guest the host's files (virtiofsd) each run in a caisson
// sandbox of their own: the Firecracker jailer's idea, made from caisson's parts.
//
// The guest is the kernel of a Debian package (scripts/setup.sh unpacks the cloud kernel
// into /var/cache/caisson-guest) and an initramfs caisson builds once and caches: this very
// binary as the guest's init, and the kernel's modules for virtio. The host's root, as the
// policy lets the program see it, is shared read-only (virtiofs); the program writes only
// where its guest caisson gives it a tmpfs, and that vanishes with the guest. Standard
// streams, signals and the program's status travel as frames over one virtio-serial port
// (caisson's own wire, run/vm_wire).
#pragma once

#include <caisson/policy.hpp>
#include <caisson/sandbox.hpp>

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace caisson {

// What the guest's caisson is asked to run: the arguments of `caisson run` as the caller
// gave them (it parses them again, as it would on the host), the caller's environment and
// working directory.
struct VmCall {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd;
};

struct VmResult {
    Outcome outcome;          // how the program ended (exit code or signal, the time limit)
    std::string report_json;  // the guest caisson's report, with a "vm" object added
};

// Boots the guest and runs `call` there; `policy` is the same command line parsed on the host
// (for the VM's size, its kernel, the time limit, what the file server may show, and the
// digest the guest's policy must have). The guest is given the caller's environment only
// where the policy is built from it (HOME, XDG_*, GNUPGHOME, CAISSON_PROFILE_PATH, USER,
// LOGNAME, TERM, LANG, LC_*), all of it with --keep-env. Throws caisson::Error for what --vm
// cannot carry (a terminal, passed descriptors, --net other than none, --rootfs, --overlay,
// --learn, --audit), a missing qemu or kernel, or a guest that ended without the program's
// status (a kernel panic: the console's last lines are in the message). What comes back (the
// status, the report) is the guest's word: as true as the guest kernel is whole.
VmResult run_in_vm(const Policy& policy, const VmCall& call);

// The policy as built from the caller's arguments, as canonical text (policy_to_json, but
// the command, which the guest gets as its own argument). The
// guest's caisson builds the policy again from the same arguments and runs nothing unless
// its text is the host's, whole (a digest could be collided with by a crafted profile): a
// profile or policy file it sees otherwise (a hidden home's) is an error, never a different
// policy.
std::string vm_policy_text(const Policy& policy);
// In the guest: "" when `policy` (as just built there) is the one the host built, else where
// the two first differ (a JSON path such as ".identity.map_host_root"). The host's text is
// taken out of the environment once read.
std::string vm_guest_policy_difference(const Policy& policy);

// True in caisson's own guest, in the caisson that the guest's init started: there --vm is
// already in effect. The guest's kernel command line says so (no program on a host can
// change the host's), and init names the descriptor for the report.
bool in_vm_guest();
// There: the descriptor the report goes to (-1 elsewhere).
int vm_guest_report_fd();
// There: the host caller's uid, which decides the homes as on the host (nullopt elsewhere).
std::optional<uid_t> vm_guest_caller_uid();

// The guest's init (PID 1 of caisson's initramfs). Never returns: powers the guest off.
[[noreturn]] void vm_guest_main();

// For `caisson doctor`: whether --vm can run here, and how.
struct VmSupport {
    bool usable = false;
    std::string accel;   // "kvm" or "tcg"
    std::string kernel;  // the default guest kernel
    std::string why;     // when not usable, or what is missing
    // What the default kernel builds in for --overlay (a FUSE client that leaves O_NOATIME
    // out of what it asks the file server) and --net user (a virtio network device).
    bool overlay = false, net_user = false;
};
VmSupport vm_support();

}  // namespace caisson
