#include <caisson/policy_tools.hpp>


#include "filter/bpf_eval.hpp"
#include "filter/condition.hpp"
#include "filter/seccomp_compiler.hpp"
#include "filter/syscall_table.hpp"
#include "policy/seccomp_profile.hpp"
#include "policy/path_rules.hpp"
#include "policy/supervision.hpp"

#include <caisson/error.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>

namespace caisson {
namespace {

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r");
    return std::string(s.substr(b, e - b + 1));
}

std::string abi_list(const seccomp::Policy& p) {
    std::string out;
    for (auto abi : p.abis) out += (out.empty() ? "" : ", ") + std::string(seccomp::abi_name(abi));
    return out;
}

}  // namespace

int policy_check(const std::string& name, std::ostream& out, std::ostream& err) {
    seccomp::Policy p = seccomp_profile::load(name);
    if (p.mode == seccomp::Mode::None) {
        out << "seccomp policy '" << name << "': no filter\n";
        return 0;
    }
    filter::Compiled c = filter::compile(supervision::with_supervision(p));
    out << "seccomp policy '" << name << "': " << c.program.size() << " BPF instructions, default "
        << seccomp::action_text(p.default_action) << "\n";
    if (!p.supervised.empty()) {
        out << "supervised (decided by caisson's supervisor before the rules below, the first entry listing a call):\n";
        for (const auto& r : p.supervised) out << "  " << supervision::describe(r) << "\n";
    }
    if (p.open.enabled()) {
        out << "opens (open, openat, openat2, creat the rules let through), decided on the real path by caisson's"
               " opener, the first match winning (" << p.open.origin << "):\n";
        for (const auto& r : p.open.rules) out << "  " << path_rules::describe(r) << "\n";
        out << "  otherwise " << seccomp::action_text(p.open.otherwise) << "\n";
    }
    out << "ABIs: " << abi_list(p) << "; calls from any other ABI are killed\n";
    for (auto abi : p.abis) {
        std::map<std::string, size_t> by_action;
        std::vector<std::string> by_args;
        size_t named = 0;
        for (const auto& d : c.decisions) {
            if (d.abi != abi) continue;
            ++named;
            if (d.by_number) ++by_action[seccomp::action_text(d.action)];
            else by_args.push_back(d.name + " (" + std::to_string(d.conditional_rules) + ")");
        }
        out << seccomp::abi_name(abi) << ": " << named << " system calls named; " << named - by_args.size()
            << " decided by number (";
        bool first = true;
        for (const auto& [action, n] : by_action) {
            out << (first ? "" : ", ") << action << " " << n;
            first = false;
        }
        out << "), never running the filter once allowed (the kernel caches them)";
        if (!by_args.empty()) {
            out << "; " << by_args.size() << " decided by arguments (rules):";
            for (const auto& s : by_args) out << " " << s;
        }
        out << "\n";
    }
    // Dead rules are judged on the policy's own rules: those under a supervised call still
    // decide what the supervisor lets through.
    const auto& warnings = p.supervised.empty() && !p.open.enabled() ? c.warnings : filter::compile(p).warnings;
    for (const auto& w : warnings) err << "warning: " << w << "\n";
    out << (warnings.empty() ? "no warnings\n" : std::to_string(warnings.size()) + " warning(s)\n");
    return 0;
}

int policy_test(const std::string& name, const std::string& table, std::ostream& out, std::ostream& err) {
    seccomp::Policy p = seccomp_profile::load(name);
    std::vector<sock_filter> program = filter::compile(p).program;
    std::ifstream in(table);
    if (!in) throw Error(ErrorKind::Usage, "read table", table, errno ? errno : ENOENT);
    std::string line;
    size_t lineno = 0, cases = 0, failed = 0;
    while (std::getline(in, line)) {
        ++lineno;
        std::string where = table + ":" + std::to_string(lineno);
        std::string text = trim(line.substr(0, line.find('#')));
        if (text.empty()) continue;
        auto arrow = text.find("=>");
        if (arrow == std::string::npos) throw Error::usage(where + ": expected 'SYSCALL [ARG...] => ACTION'");
        seccomp::Action expected;
        try {
            expected = seccomp_profile::parse_action(trim(text.substr(arrow + 2)));
        } catch (const Error& e) {
            throw Error::usage(where + ": " + e.what());
        }
        std::istringstream call(text.substr(0, arrow));
        std::string syscall;
        call >> syscall;
        seccomp::Abi abi = seccomp::Abi::X86_64;
        if (auto colon = syscall.find(':'); colon != std::string::npos) {
            auto a = filter::abi_from_name(syscall.substr(0, colon));
            if (!a) throw Error::usage(where + ": unknown ABI '" + syscall.substr(0, colon) + "' (x86_64, x32, i386)");
            abi = *a;
            syscall.erase(0, colon + 1);
        }
        auto nr = filter::syscall_number(abi, syscall);
        if (!nr) throw Error::usage(where + ": unknown system call '" + syscall + "' on " + seccomp::abi_name(abi));
        filter::SeccompInput input;
        input.arch = filter::audit_arch(abi);
        input.nr = *nr;
        std::string arg;
        for (int i = 0; call >> arg; ++i) {
            if (i == 6) throw Error::usage(where + ": a system call has at most 6 arguments");
            try {
                input.args[i] = filter::parse_value(arg);
            } catch (const Error& e) {
                throw Error::usage(where + ": argument '" + arg + "': " + e.what());
            }
        }
        auto r = filter::evaluate(program, input);
        if (!r.ok) throw Error(ErrorKind::Setup, "evaluate", r.error, 0);
        seccomp::Action got = filter::action_of(r.action);
        ++cases;
        if (!(got == expected)) {
            ++failed;
            err << where << ": " << trim(text.substr(0, arrow)) << ": expected " << seccomp::action_text(expected)
                << ", got " << seccomp::action_text(got) << "\n";
        }
    }
    out << cases << " cases, " << failed << " failed\n";
    return failed ? 1 : 0;
}

}  // namespace caisson
