#include "run/seccomp_monitor.hpp"

#include "filter/bpf_eval.hpp"
#include "filter/seccomp_compiler.hpp"
#include "filter/syscall_table.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>

namespace caisson::run {
namespace {

constexpr size_t kMaxRecorded = 64;

SyscallEvent describe(const seccomp_notif& n, const seccomp::Action& action) {
    SyscallEvent e;
    seccomp::Abi abi = n.data.arch == AUDIT_ARCH_I386 ? seccomp::Abi::I386
                       : (n.data.nr & filter::kX32SyscallBit) ? seccomp::Abi::X32
                                                              : seccomp::Abi::X86_64;
    e.abi = seccomp::abi_name(abi);
    e.nr = static_cast<uint32_t>(n.data.nr);
    e.syscall = filter::syscall_name(abi, e.nr);
    for (int i = 0; i < 6; ++i) e.args[i] = n.data.args[i];
    e.pid = n.pid;
    e.action = seccomp::action_text(action);
    return e;
}

}  // namespace

NotifyVerdict handle_notification(int listener, const std::vector<sock_filter>& truth, Outcome& out) {
    seccomp_notif n{};
    if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0) return NotifyVerdict::None;  // the caller died meanwhile
    filter::SeccompInput in;
    in.nr = static_cast<uint32_t>(n.data.nr);
    in.arch = n.data.arch;
    in.instruction_pointer = n.data.instruction_pointer;
    for (int i = 0; i < 6; ++i) in.args[i] = n.data.args[i];
    auto r = filter::evaluate(truth, in);
    seccomp::Action action = r.ok ? filter::action_of(r.action) : seccomp::Action{seccomp::ActionKind::KillProcess, 0};
    if (action.kind != seccomp::ActionKind::Notify) {
        // A kill rule fired: keep the first one, the caller kills the sandbox.
        if (!out.seccomp_violation) out.seccomp_violation = describe(n, action);
        return NotifyVerdict::Kill;
    }
    SyscallEvent e = describe(n, action);
    std::string name = e.abi == "x86_64" ? e.syscall : e.abi + ":" + e.syscall;
    auto at = std::lower_bound(out.syscalls_seen.begin(), out.syscalls_seen.end(), name);
    if (at == out.syscalls_seen.end() || *at != name) out.syscalls_seen.insert(at, name);
    if (out.seccomp_events.size() < kMaxRecorded) out.seccomp_events.push_back(std::move(e));
    seccomp_notif_resp resp{};
    resp.id = n.id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    (void)::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);  // ENOENT: the caller died
    return NotifyVerdict::Continued;
}

}  // namespace caisson::run
