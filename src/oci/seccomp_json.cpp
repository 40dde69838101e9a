#include "oci/seccomp_json.hpp"

#include "filter/syscall_table.hpp"

#include <caisson/error.hpp>

#include <linux/seccomp.h>

#include <algorithm>
#include <cerrno>

namespace caisson::oci {
namespace {

using seccomp::Action;
using seccomp::ActionKind;
using seccomp::Expr;

Action action(const std::string& name, std::optional<uint32_t> errno_ret, const std::string& field) {
    auto value = [&](uint32_t fallback) { return static_cast<uint16_t>(std::min<uint32_t>(errno_ret.value_or(fallback), 0xffff)); };
    // An errno only means something to the actions that return one (runtime-spec: an error otherwise).
    if (errno_ret && name != "SCMP_ACT_ERRNO" && name != "SCMP_ACT_TRACE")
        throw Error::usage("config.json: " + field + ": errnoRet given for " + name + ", which returns no errno");
    if (name == "SCMP_ACT_ALLOW") return {ActionKind::Allow, 0};
    if (name == "SCMP_ACT_ERRNO") return {ActionKind::Errno, value(EPERM)};
    if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return {ActionKind::KillThread, 0};
    if (name == "SCMP_ACT_KILL_PROCESS") return {ActionKind::KillProcess, 0};
    if (name == "SCMP_ACT_TRAP") return {ActionKind::Trap, 0};
    if (name == "SCMP_ACT_TRACE") return {ActionKind::Trace, value(EPERM)};
    if (name == "SCMP_ACT_LOG") return {ActionKind::Log, 0};
    if (name == "SCMP_ACT_NOTIFY") return {ActionKind::Notify, 0};
    throw Error::usage("config.json: " + field + ": unknown seccomp action \"" + name + "\"");
}

Expr condition(const SeccompArg& a, const std::string& field) {
    Expr e;
    e.kind = Expr::Kind::Cmp;
    e.arg = a.index;
    e.value = a.value;
    if (a.op == "SCMP_CMP_EQ") e.op = seccomp::Op::Eq;
    else if (a.op == "SCMP_CMP_NE") e.op = seccomp::Op::Ne;
    else if (a.op == "SCMP_CMP_LT") e.op = seccomp::Op::Lt;
    else if (a.op == "SCMP_CMP_LE") e.op = seccomp::Op::Le;
    else if (a.op == "SCMP_CMP_GT") e.op = seccomp::Op::Gt;
    else if (a.op == "SCMP_CMP_GE") e.op = seccomp::Op::Ge;
    else if (a.op == "SCMP_CMP_MASKED_EQ") {
        // libseccomp: (arg & value) == valueTwo.
        e.op = seccomp::Op::Eq;
        e.mask = a.value;
        e.value = a.value_two;
    } else {
        throw Error::usage("config.json: " + field + ".op: unknown operator \"" + a.op + "\"");
    }
    return e;
}

std::string condition_text(const std::vector<SeccompArg>& args) {
    std::string out;
    for (const auto& a : args) {
        if (!out.empty()) out += " && ";
        out += "arg" + std::to_string(a.index) + " " + a.op.substr(9) + " " + std::to_string(a.value);
        if (a.op == "SCMP_CMP_MASKED_EQ") out += " -> " + std::to_string(a.value_two);
    }
    return out;
}

}  // namespace

SeccompTranslation translate_seccomp(const Seccomp& s) {
    SeccompTranslation t;
    seccomp::Policy& p = t.policy;
    p.name = "oci";
    p.mode = seccomp::Mode::Filter;
    p.default_action = action(s.default_action, s.default_errno_ret, "linux.seccomp.defaultAction");
    if (p.default_action.kind == ActionKind::Notify)
        throw Error::usage("config.json: linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default (execve would wait on it)");
    p.abis.clear();
    for (const auto& arch : s.architectures) {
        std::optional<seccomp::Abi> abi;
        if (arch == "SCMP_ARCH_X86_64") abi = seccomp::Abi::X86_64;
        else if (arch == "SCMP_ARCH_X86") abi = seccomp::Abi::I386;
        else if (arch == "SCMP_ARCH_X32") abi = seccomp::Abi::X32;
        // Architectures of other machines cannot run here: libseccomp skips them too.
        if (abi && std::find(p.abis.begin(), p.abis.end(), *abi) == p.abis.end()) p.abis.push_back(*abi);
    }
    if (std::find(p.abis.begin(), p.abis.end(), seccomp::Abi::X86_64) == p.abis.end())
        p.abis.insert(p.abis.begin(), seccomp::Abi::X86_64);  // the native one is always there
    for (const auto& flag : s.flags) {
        if (flag == "SECCOMP_FILTER_FLAG_LOG") t.filter_flags |= SECCOMP_FILTER_FLAG_LOG;
        else if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") t.filter_flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        else if (flag == "SECCOMP_FILTER_FLAG_TSYNC") continue;  // the container's init has one thread
        else throw Error::usage("config.json: linux.seccomp.flags: unknown flag \"" + flag + "\"");
    }
    // libseccomp lets a rule with argument conditions take precedence over an unconditional
    // one for the same call; caisson's first-match order gets that by putting them first.
    std::vector<seccomp::Rule> conditional, plain;
    for (size_t i = 0; i < s.syscalls.size(); ++i) {
        const auto& call = s.syscalls[i];
        std::string field = "linux.seccomp.syscalls[" + std::to_string(i) + "]";
        seccomp::Rule r;
        r.origin = "config.json: " + field;
        r.action = action(call.action, call.errno_ret, field + ".action");
        if (r.action.kind == ActionKind::Notify) t.notify = true;
        for (const auto& name : call.names) {
            bool known = std::any_of(p.abis.begin(), p.abis.end(),
                                     [&](seccomp::Abi abi) { return filter::syscall_number(abi, name).has_value(); });
            if (known) r.syscalls.push_back(name);
            else if (std::find(t.skipped.begin(), t.skipped.end(), name) == t.skipped.end()) t.skipped.push_back(name);
        }
        if (r.syscalls.empty()) continue;
        if (!call.args.empty()) {
            r.conditional = true;
            r.when_text = condition_text(call.args);
            if (call.args.size() == 1) {
                r.when = condition(call.args[0], field + ".args[0]");
            } else {
                r.when.kind = Expr::Kind::And;
                for (size_t k = 0; k < call.args.size(); ++k)
                    r.when.kids.push_back(condition(call.args[k], field + ".args[" + std::to_string(k) + "]"));
            }
            conditional.push_back(std::move(r));
        } else {
            plain.push_back(std::move(r));
        }
    }
    p.rules = std::move(conditional);
    p.rules.insert(p.rules.end(), std::make_move_iterator(plain.begin()), std::make_move_iterator(plain.end()));
    return t;
}

}  // namespace caisson::oci
