#include <caisson/learn.hpp>

#include "policy/learned.hpp"
#include "policy/printable.hpp"

#include "kernel/fd.hpp"
#include "policy/profile.hpp"

#include <caisson/error.hpp>
#include <caisson/output_file.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace caisson {
namespace {

// Calls learn mode lets through without recording them: the program's own exec, exits and
// its error report must not wait for a supervisor that is not listening yet.
constexpr const char* kUnrecorded[] = {"execve", "exit", "exit_group", "write"};

kernel::Fd memfd(const char* name) {
    kernel::Fd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd) throw Error(ErrorKind::Setup, "memfd_create", name, errno);
    return fd;
}

// For the life of this object, descriptor `target` (0 or 1) is `with`; then it is back.
class Redirect {
public:
    Redirect(int with, int target) : target_(target), saved_(::fcntl(target, F_DUPFD_CLOEXEC, 3)) {
        if (saved_ < 0 || ::dup2(with, target) < 0) throw Error(ErrorKind::Setup, "redirect", "descriptor " + std::to_string(target), errno);
    }
    ~Redirect() {
        ::dup2(saved_, target_);
        ::close(saved_);
    }
    Redirect(const Redirect&) = delete;
    Redirect& operator=(const Redirect&) = delete;

private:
    int target_, saved_;
};

std::string contents(int fd) {
    std::string s;
    char buf[65536];
    ssize_t n;
    off_t at = 0;
    while ((n = ::pread(fd, buf, sizeof(buf), at)) > 0) s.append(buf, static_cast<size_t>(n)), at += n;
    return s;
}


struct Run {
    Outcome outcome;
    std::string out;
};

// One run with stdin from `input` (rewound; -1: the caller's) and stdout captured.
Run run_captured(Policy policy, int input) {
    kernel::Fd out = memfd("caisson-learn-out");
    std::optional<Redirect> in;
    if (input >= 0) {
        if (::lseek(input, 0, SEEK_SET) < 0) throw Error(ErrorKind::Setup, "lseek", "captured input", errno);
        in.emplace(input, 0);
    }
    Redirect to(out.get(), 1);
    Run r;
    r.outcome = Sandbox(std::move(policy)).run();
    r.out = contents(out.get());
    return r;
}

std::string status_text(const Outcome& o) {
    return o.exited ? "exit " + std::to_string(o.exit_code) : "signal " + std::to_string(o.term_signal);
}

}  // namespace

namespace {

// What one learning run found (the calls learn mode lets through unrecorded included).
learned::Profile profile_of(const Outcome& out) {
    static_assert(learned::kRead == Outcome::kPathRead && learned::kWrite == Outcome::kPathWrite &&
                  learned::kCreate == Outcome::kPathCreate);
    learned::Profile p;
    p.paths = out.paths_seen;
    p.connects = out.connects_seen;
    p.binds = out.binds_seen;
    if (out.egress_names) p.hosts.insert(out.egress_names->reached.begin(), out.egress_names->reached.end());
    for (const char* s : kUnrecorded) p.allow.insert(s);
    for (const auto& s : out.syscalls_seen) {
        if (s.find(':') != std::string::npos) continue;  // other ABIs: the profile is x86_64's
        auto values = out.syscall_arg_values.find(s);
        if (values == out.syscall_arg_values.end() || values->second.size() > learned::kMaxValues) {
            p.allow.insert(s);
            continue;
        }
        for (uint64_t v : values->second) {
            uint64_t args[6] = {};
            args[*learned::recorded_arg(s)] = v;
            learned::add(p, s, args);
        }
    }
    return p;
}

std::string learned_text(const learned::Profile& p, const std::vector<std::string>& argv, const std::string& how) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    // One comment line, whatever the arguments hold.
    std::string line;
    for (char c : cmd) line += c == '\n' ? std::string("\\n") : std::string(1, static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
    cmd = std::move(line);
    size_t by_value = p.by_value.size();
    return "# Learned by " + how + " from: " + cmd + "\n# " + std::to_string(p.allow.size() + by_value) +
           " system calls, " + std::to_string(by_value) + " of them for the argument values seen. Review it: caisson policy check FILE\n" +
           learned::to_toml(p, "");
}

}  // namespace

std::string learned_policy_text(const Outcome& out, const std::vector<std::string>& argv, const std::string& how, size_t* calls) {
    learned::Profile p = profile_of(out);
    if (calls) *calls = p.allow.size() + p.by_value.size();
    return learned_text(p, argv, how);
}

int learn(const LearnOptions& opts, Policy policy) {
    // Everything that can be refused is read before the program runs.
    std::vector<learned::Profile> earlier;
    for (const auto& m : opts.merge) {
        std::ifstream f(m);
        if (!f) throw Error(ErrorKind::Usage, "--merge: open", m, errno);
        std::stringstream text;
        text << f.rdbuf();
        earlier.push_back(learned::from_toml(text.str(), m));
    }
    // Written after the runs, opened before them (caisson/output_file.hpp).
    const OutputFile policy_file(opts.output, "caisson learn: --output", policy.process.pass_fds);
    OutputFile profile_file;
    if (!opts.profile_output.empty())
        profile_file = OutputFile(opts.profile_output, "caisson learn: --profile-output", policy.process.pass_fds);
    // The same input for both runs: a terminal cannot be replayed, so it is not checked.
    kernel::Fd input;
    bool replay = opts.verify && !::isatty(0);
    if (replay) {
        input = memfd("caisson-learn-in");
        char buf[65536];
        ssize_t n;
        while ((n = ::read(0, buf, sizeof(buf))) > 0)
            if (::write(input.get(), buf, static_cast<size_t>(n)) != n) throw Error(ErrorKind::Setup, "write", "captured input", errno);
        if (n < 0) throw Error(ErrorKind::Setup, "read", "standard input", errno);
    }

    Policy learning = policy;
    learning.learn_path = opts.output;
    Run first = run_captured(learning, replay ? input.get() : -1);
    (void)!::write(1, first.out.data(), first.out.size());
    learned::Profile profile = profile_of(first.outcome);
    for (const auto& e : earlier) learned::merge(profile, e);
    std::string text = learned_text(profile, policy.process.argv, "caisson learn");
    policy_file.write(text);
    std::string run_profile;
    if (!opts.profile_output.empty()) {
        char here[4096];
        std::string abs = opts.output;
        if (abs.front() != '/' && ::getcwd(here, sizeof(here))) abs = std::string(here) + "/" + abs;
        run_profile = learned::run_profile_toml(profile, abs, "# Learned by caisson learn: a run profile around " + printable(abs, 4096) + "\n");
        profile_file.write(run_profile);
    }
    std::fprintf(stderr, "caisson learn: %zu system calls (%zu by argument value), %zu paths, %zu addresses into %s%s%s\n",
                 profile.allow.size() + profile.by_value.size(), profile.by_value.size(), profile.paths.size(),
                 profile.connects.size() + profile.binds.size(), opts.output.c_str(),
                 run_profile.empty() ? "" : " and ", opts.profile_output.c_str());
    if (!opts.verify || !replay) {
        if (opts.verify) std::fprintf(stderr, "caisson learn: not verified: standard input is a terminal\n");
        return first.outcome.shell_status();
    }

    Policy checked = policy;
    // Checked with the names it learned, not with the `--allow-host '*'` it learned them by.
    if (!profile.hosts.empty()) std::erase_if(checked.network.allow_hosts, [](const HostRule& r) { return r.pattern == "*"; });
    if (!run_profile.empty()) {
        profile::apply_text(checked, run_profile, opts.profile_output);
    } else {
        checked.seccomp = seccomp::policy_from_toml(text, opts.output);
        checked.seccomp.name = opts.output;
    }
    Run second = run_captured(checked, input.get());
    bool same_status = second.outcome.shell_status() == first.outcome.shell_status();
    bool same_out = second.out == first.out;
    if (same_status && same_out) {
        std::fprintf(stderr, "caisson learn: verified: under the policy the program ended the same (%s) with the same output (%zu bytes)\n",
                     status_text(first.outcome).c_str(), first.out.size());
        return first.outcome.shell_status();
    }
    std::string why = same_status ? "" : status_text(first.outcome) + " then " + status_text(second.outcome);
    if (!same_out) why += std::string(why.empty() ? "" : "; ") + "output of " + std::to_string(first.out.size()) + " then " +
                          std::to_string(second.out.size()) + " bytes, different";
    if (second.outcome.seccomp_violation) why += "; killed on " + second.outcome.seccomp_violation->syscall;
    std::fprintf(stderr, "caisson learn: NOT verified: under the policy the program behaved differently (%s)\n", why.c_str());
    return kExitUsage;
}

}  // namespace caisson
