#include "run/prepared_program.hpp"

#include "run/channel.hpp"
#include "run/preflight.hpp"

#include <caisson/error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace caisson::run {

void hand_over_program(int channel, const LaunchPlan& plan, const PreparedProgram& program) {
    if (program.argv.empty() || program.argv[0].empty()) throw Error::usage("a prepared sandbox's program: no command");
    std::vector<std::string> env = program.env;
    // --home: HOME is that home, unless the policy sets it (as build_plan does for run()).
    const auto& ops = plan.policy->process.env;
    if (!plan.root.home.empty() && std::none_of(ops.begin(), ops.end(), [](const EnvOp& op) { return op.name == "HOME"; })) {
        std::erase_if(env, [](const std::string& e) { return e.rfind("HOME=", 0) == 0; });
        env.push_back("HOME=" + plan.root.home);
    }
    // The three lists' lengths ("N N N", NUL-ended), then every string NUL-ended: an empty
    // argument is an argument.
    std::vector<std::string> candidates = exec_candidates(env, program.argv[0]);
    std::string text = std::to_string(candidates.size()) + " " + std::to_string(program.argv.size()) + " " + std::to_string(env.size());
    text += '\0';
    size_t strings = 0;
    auto add_list = [&](const std::vector<std::string>& list) {
        for (const auto& s : list) {
            if (s.find('\0') != std::string::npos) throw Error::usage("a prepared sandbox's program: a string holds a NUL");
            text += s;
            text += '\0';
            ++strings;
        }
        ++strings;  // its null pointer
    };
    add_list(candidates);
    add_list(program.argv);
    add_list(env);
    if (text.size() > kMaxProgramText || strings > kMaxProgramStrings)
        throw Error::usage("a prepared sandbox's program: its command line and environment exceed " +
                           std::to_string(kMaxProgramText / 1024) + " KiB or " + std::to_string(kMaxProgramStrings) + " strings");
    Message m{};
    m.type = MsgType::Program;
    m.wait_status = static_cast<int32_t>(text.size());
    if (!send_message(channel, m, program.stdio, 3)) throw Error(ErrorKind::Setup, "hand over the program", "setup channel", errno);
    if (!send_packet(channel, text.data(), text.size())) throw Error(ErrorKind::Setup, "hand over the program", "setup channel", errno);
}

bool take_program(int channel, LaunchPlan& plan, char* text, size_t text_size, char** strings, size_t n_strings, Failure& f) {
    Message m{};
    int fds[3] = {-1, -1, -1};
    size_t nfds = 3;
    if (recv_message(channel, m, fds, &nfds) <= 0 || m.type != MsgType::Program || nfds != 3 || m.wait_status <= 0 ||
        static_cast<size_t>(m.wait_status) >= text_size)
        return f.set("receive the program", "setup channel", EPROTO);
    size_t size = static_cast<size_t>(m.wait_status);
    if (recv_packet(channel, text, size) <= 0) return f.set("receive the program", "setup channel", EPROTO);
    text[size] = '\0';
    // The lengths, then the strings.
    char* end = nullptr;
    size_t counts[3];
    const char* at_count = text;
    for (auto& c : counts) {
        c = std::strtoul(at_count, &end, 10);
        if (end == at_count) return f.set("receive the program", "a bad packet", EPROTO);
        at_count = end;
    }
    size_t at = std::strlen(text) + 1, used = 0;
    char** lists[3] = {};
    for (int l = 0; l < 3; ++l) {
        lists[l] = strings + used;
        for (size_t i = 0; i < counts[l]; ++i) {
            if (at >= size || used + 1 >= n_strings) return f.set("receive the program", "a cut packet", EPROTO);
            strings[used++] = text + at;
            at += std::strlen(text + at) + 1;
        }
        if (used >= n_strings) return f.set("receive the program", "too many strings", E2BIG);
        strings[used++] = nullptr;
    }
    plan.held_candidates = lists[0];
    plan.held_argv = lists[1];
    plan.held_envp = lists[2];
    if (!plan.held_argv[0] || !plan.held_candidates[0]) return f.set("receive the program", "no command", EINVAL);
    for (int i = 0; i < 3; ++i) {
        if (::dup2(fds[i], i) < 0) return f.set("dup2", "the program's standard streams");
        if (fds[i] != i) ::close(fds[i]);
        // They came close-on-exec, and dup2 onto itself keeps the flag.
        if (::fcntl(i, F_SETFD, 0) < 0) return f.set("fcntl", "the program's standard streams");
    }
    return true;
}

}  // namespace caisson::run
