#include "run/seccomp_monitor.hpp"

#include "mech/monitor_line.hpp"

#include "filter/bpf_eval.hpp"
#include "filter/seccomp_compiler.hpp"
#include "filter/syscall_table.hpp"
#include "kernel/notify.hpp"
#include "policy/learned.hpp"
#include "run/learn_recorder.hpp"

#include <caisson/error.hpp>

#include <nlohmann/json.hpp>

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

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

// ENOENT from the ioctl: the caller died meanwhile.
void answer(int listener, uint64_t id, int error) {
    if (error) kernel::notify_error(listener, id, error);
    else kernel::notify_continue(listener, id);
}

// A refusal is answered, never run: errno(0) returns 0 without the call (as the filter's own
// RET_ERRNO|0 does), it does not let it through.
void refuse(int listener, uint64_t id, int error) { kernel::notify_error(listener, id, error); }

}  // namespace

SeccompMonitor::SeccompMonitor(const std::vector<sock_filter>& truth, std::vector<seccomp::Supervised> supervised,
                               int audit_fd, int monitor_fd)
    : truth_(truth), audit_fd_(audit_fd), monitor_fd_(monitor_fd), start_(std::chrono::steady_clock::now()) {
    if (!supervised.empty()) state_.emplace(std::move(supervised));
}

void SeccompMonitor::audit(const SyscallEvent& e, const std::string& decision, const std::string& rule,
                           const std::string& why, const std::string& path) {
    // A refusal is an errno answer or a kill; what the kernel said of an allowed open
    // (failed(ENOENT)) is not one.
    if (decision.starts_with("errno(") || decision.starts_with("kill")) {
        ++refused_;
        if (monitor_fd_ >= 0) {
            // One line, as it happens: what, where, which rule.
            std::string line = "caisson: refused " + (e.abi == "x86_64" ? e.syscall : e.abi + ":" + e.syscall) +
                               (path.empty() ? "" : " " + mech::printable(path, 200)) + " (pid " + std::to_string(e.pid) + "): " + decision +
                               ", by " + (rule == "filter" ? std::string("the seccomp policy") : rule) +
                               (why.empty() ? "" : " (" + why + ")") + "\n";
            mech::write_line_unblocked(monitor_fd_, line);
        }
    }
    if (audit_fd_ < 0) return;
    nlohmann::ordered_json j;
    j["t"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    j["pid"] = e.pid;
    j["syscall"] = e.abi == "x86_64" ? e.syscall : e.abi + ":" + e.syscall;
    if (!path.empty()) j["path"] = path;
    j["decision"] = decision;
    j["rule"] = rule;
    if (!why.empty()) j["why"] = why;
    // A path the sandbox named need not be UTF-8: replaced, not thrown on.
    std::string line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    // Every decision is in the file, or the sandbox ends: a full disk or a size limit
    // (RLIMIT_FSIZE; SIGXFSZ is blocked on the notification thread) must not let the
    // program push the rest of its calls out of the record.
    ssize_t n = ::write(audit_fd_, line.data(), line.size());
    if (n != static_cast<ssize_t>(line.size()))
        throw Error(ErrorKind::Setup, "write the audit line", "--audit", n < 0 ? errno : EFBIG);
}

bool SeccompMonitor::is_start(const seccomp_notif& n, int listener) {
    if (started_.load(std::memory_order_acquire) || n.data.args[1] != start_argv_) return false;
    size_t i = next_candidate_;
    while (i < start_filenames_.size() && start_filenames_[i] != n.data.args[0]) ++i;
    if (i == start_filenames_.size()) return false;
    struct stat self{}, caller{};
    std::string exe = "/proc/" + std::to_string(n.pid) + "/exe";
    if (::stat("/proc/self/exe", &self) < 0 || ::stat(exe.c_str(), &caller) < 0 || self.st_dev != caller.st_dev ||
        self.st_ino != caller.st_ino)
        return false;
    if (!kernel::notify_id_valid(listener, n.id)) return false;
    next_candidate_ = i + 1;
    return true;
}

NotifyVerdict SeccompMonitor::handle(int listener, Outcome& out) {
    seccomp_notif n{};
    if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0) return NotifyVerdict::None;  // the caller died meanwhile
    filter::SeccompInput in;
    in.nr = static_cast<uint32_t>(n.data.nr);
    in.arch = n.data.arch;
    in.instruction_pointer = n.data.instruction_pointer;
    for (int i = 0; i < 6; ++i) in.args[i] = n.data.args[i];
    // What the policy's own rules say of the call (without the supervised ones in front).
    auto r = filter::evaluate(truth_, in);
    seccomp::Action action = r.ok ? filter::action_of(r.action) : seccomp::Action{seccomp::ActionKind::KillProcess, 0};
    SyscallEvent e = describe(n, action);
    std::string rule = "filter";
    if (e.syscall == "execve" && e.abi == "x86_64" && is_start(n, listener)) {
        audit(e, "allow", "the program's start", "");
        answer(listener, n.id, 0);
        return NotifyVerdict::Continued;
    }
    // The policy's own rules first: a call they refuse is refused, and counts for nothing.
    const bool policy_lets_through = action.kind == seccomp::ActionKind::Allow || action.kind == seccomp::ActionKind::Log ||
                                     action.kind == seccomp::ActionKind::Notify;
    if (state_ && policy_lets_through) {
        using Clock = std::chrono::steady_clock;
        auto v = state_->decide(e.syscall, std::chrono::duration<double>(Clock::now() - start_).count());
        if (v.rule >= 0) rule = state_->rules()[static_cast<size_t>(v.rule)].origin;
        if (!v.allow) {
            std::string decision = seccomp::action_text(v.action);
            audit(e, decision, rule, v.why);
            e.action = decision + " (" + v.why + ")";
            if (out.seccomp_events.size() < kMaxRecorded) out.seccomp_events.push_back(e);
            if (v.action.kind == seccomp::ActionKind::KillProcess) {
                if (!out.seccomp_violation) out.seccomp_violation = e;
                return NotifyVerdict::Kill;
            }
            refuse(listener, n.id, v.action.value);
            return NotifyVerdict::Refused;
        }
    }
    if (broker_ && policy_lets_through && e.abi == "x86_64" && PathBroker::handles(e.syscall)) {
        auto d = broker_->handle(listener, n, e.syscall);
        audit(e, d.decision, d.rule, "", d.path);
        // The report keeps the policy's refusals; what the kernel said of an allowed or
        // unresolvable path (ENOENT, mostly) is in the audit only.
        const bool refused = d.kill || d.decision.starts_with("errno(");
        if (!refused) return d.decision == "allow" ? NotifyVerdict::Continued : NotifyVerdict::Refused;
        e.action = d.decision + " " + d.path;
        if (out.seccomp_events.size() < kMaxRecorded) out.seccomp_events.push_back(e);
        if (d.kill) {
            if (!out.seccomp_violation) out.seccomp_violation = e;
            return NotifyVerdict::Kill;
        }
        return NotifyVerdict::Refused;
    }
    switch (action.kind) {
        case seccomp::ActionKind::Allow:
        case seccomp::ActionKind::Log:
            audit(e, "allow", rule, "");
            answer(listener, n.id, 0);
            return NotifyVerdict::Continued;
        case seccomp::ActionKind::Errno:
        case seccomp::ActionKind::Trace:  // with no tracer attached, the kernel answers ENOSYS
            audit(e, seccomp::action_text(action), rule, "");
            refuse(listener, n.id, action.kind == seccomp::ActionKind::Errno ? action.value : ENOSYS);
            return NotifyVerdict::Refused;
        case seccomp::ActionKind::Notify: {
            audit(e, "allow", "notify", "");
            std::string name = e.abi == "x86_64" ? e.syscall : e.abi + ":" + e.syscall;
            auto at = std::lower_bound(out.syscalls_seen.begin(), out.syscalls_seen.end(), name);
            if (at == out.syscalls_seen.end() || *at != name) out.syscalls_seen.insert(at, name);
            if (e.abi == "x86_64" && learn_records(name)) record_pointers(n, name, out);
            if (auto which = learned::recorded_arg(name)) {
                auto& values = out.syscall_arg_values[name];
                if (values.size() <= learned::kMaxValues) values.insert(n.data.args[*which] & 0xffffffffu);
            }
            if (out.seccomp_events.size() < kMaxRecorded) out.seccomp_events.push_back(std::move(e));
            answer(listener, n.id, 0);
            return NotifyVerdict::Continued;
        }
        default:
            // A kill rule fired: keep the first one, the caller kills the sandbox.
            audit(e, seccomp::action_text(action), rule, "");
            if (!out.seccomp_violation) out.seccomp_violation = e;
            return NotifyVerdict::Kill;
    }
}

void add_record(Outcome& to, Outcome&& from) {
    if (!to.seccomp_violation) to.seccomp_violation = std::move(from.seccomp_violation);
    for (auto& e : from.seccomp_events)
        if (to.seccomp_events.size() < kMaxRecorded) to.seccomp_events.push_back(std::move(e));
    for (auto& name : from.syscalls_seen) {
        auto at = std::lower_bound(to.syscalls_seen.begin(), to.syscalls_seen.end(), name);
        if (at == to.syscalls_seen.end() || *at != name) to.syscalls_seen.insert(at, std::move(name));
    }
    for (auto& [name, values] : from.syscall_arg_values) to.syscall_arg_values[name].merge(values);
    for (const auto& [path, how] : from.paths_seen) to.paths_seen[path] |= how;
    to.connects_seen.merge(from.connects_seen);
    to.binds_seen.merge(from.binds_seen);
}

}  // namespace caisson::run
