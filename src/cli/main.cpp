// The `caisson` executable: a thin front end. It turns flags and profiles into a Policy
// through the one schema and hands it to the library; it does nothing the library cannot.
#include "cli/doctor_command.hpp"
#include "cli/listen_command.hpp"
#include "cli/stream_relay.hpp"

#include <caisson/admin.hpp>
#include <caisson/error.hpp>
#include <caisson/settings.hpp>
#include <caisson/learn.hpp>
#include <caisson/output_file.hpp>
#include <caisson/policy_tools.hpp>
#include <caisson/pool.hpp>
#include <caisson/sandbox.hpp>
#include <caisson/vm.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <fstream>
#include <iostream>
#include <map>

#ifndef CAISSON_VERSION
#define CAISSON_VERSION "0.1.0"
#endif

namespace {

using caisson::Error;
using caisson::ErrorKind;

int exit_code_for(const Error& e) {
    if (e.kind() == ErrorKind::Exec) return e.err() == ENOENT ? caisson::kExitNotFound : caisson::kExitCannotExec;
    return caisson::kExitUsage;
}

// The policy learn mode found: the calls the run made, and nothing else.
void write_learned_policy(const caisson::Policy& p, const caisson::Outcome& out, const caisson::OutputFile& file) {
    size_t calls = 0;
    file.write(caisson::learned_policy_text(out, p.process.argv, "caisson run --learn", &calls));
    std::fprintf(stderr, "caisson: learned %zu system calls into %s\n", calls, p.learn_path.c_str());
}

using OptionMap = std::map<CLI::Option*, const caisson::schema::Setting*>;

// The profiles, then the flags of `caisson run` (or `listen`), into a policy.
caisson::Policy build_policy(CLI::App& run, const std::vector<std::string>& profiles, const OptionMap& by_option,
                             std::vector<std::string> program) {
    caisson::Policy policy = caisson::default_policy();
    for (const auto& prof : profiles) caisson::apply_profile(policy, prof);

    // Flags apply after the profiles, in command-line order (mounts keep their order).
    // CLI11 lists an option in parse_order() once per value, so a use of a two-value
    // option completes on its second entry.
    std::map<CLI::Option*, size_t> consumed;
    std::map<CLI::Option*, std::vector<std::string>> pending;
    for (CLI::Option* opt : run.parse_order()) {
        auto it = by_option.find(opt);
        if (it == by_option.end()) continue;
        const auto* s = it->second;
        const auto& results = opt->results();
        size_t& at = consumed[opt];
        std::string value = at < results.size() ? results[at] : "true";
        ++at;
        auto& args = pending[opt];
        if (s->arity == 0) args = {value == "false" || value == "0" || value == "-1" ? "false" : "true"};
        else args.push_back(value);
        if (args.size() < static_cast<size_t>(std::max(s->arity, 1))) continue;
        try {
            s->apply(policy, args);
        } catch (const Error& e) {
            throw Error::usage(e.what());
        }
        args.clear();
    }
    policy.process.argv = std::move(program);
    return policy;
}

// CVE-2019-5736 (caisson/sandbox.hpp): when the program could rewrite this binary, caisson
// first re-executes itself from a copy no sandbox can write (the same command line again).
caisson::Policy protected_for(caisson::Policy policy, char** argv) {
    if (caisson::Sandbox(policy).exposes_own_binary()) caisson::run_from_protected_copy(argv);
    return policy;
}

int run_command(CLI::App& run, const std::vector<std::string>& profiles, bool print_policy, const OptionMap& by_option,
                std::vector<std::string> program, char** argv, const std::string& pool_socket) {
    caisson::Policy policy = build_policy(run, profiles, by_option, std::move(program));
    // This process exists to run the program: a signal sent to it is meant for the program.
    policy.process.forward_signals = true;
    if (print_policy) {
        std::cout << caisson::policy_to_json(policy) << "\n";
        return 0;
    }
    if (policy.vm.enabled && caisson::in_vm_guest()) {
        // This is the guest's caisson, which init started with the caller's arguments: --vm is
        // in effect already. The report goes back to init, which sends it to the host.
        // A program that could reach this binary gets it from a protected copy, which runs all
        // this again: before the comparison, which takes the host's text (once) with it.
        policy = protected_for(std::move(policy), argv);
        if (const std::string where = caisson::vm_guest_policy_difference(policy); !where.empty())
            throw Error::usage("--vm: from the same arguments the guest built a policy other than the host's (a profile, "
                               "policy file or variable it sees otherwise; they differ at " + where + "); nothing was run");
        policy.vm.enabled = false;
        policy.report_path.clear();
        caisson::Sandbox sandbox(std::move(policy));
        caisson::Outcome outcome = sandbox.run();
        const std::string report = caisson::outcome_to_json(outcome);
        (void)!::write(caisson::vm_guest_report_fd(), report.data(), report.size());
        return outcome.shell_status();
    }
    // The files written after the run, opened before it starts (caisson/output_file.hpp).
    caisson::OutputFile report, learned;
    if (!policy.report_path.empty()) report = caisson::OutputFile(policy.report_path, "--report", policy.process.pass_fds);
    if (!policy.learn_path.empty()) learned = caisson::OutputFile(policy.learn_path, "--learn", policy.process.pass_fds);
    if (policy.vm.enabled) {
        if (!pool_socket.empty()) throw Error::usage("--vm: a pool's sandboxes are on this kernel (--pool)");
        // The jails run this binary's code as the caller's ids where the caller is not root.
        policy = protected_for(std::move(policy), argv);
        caisson::VmCall call;
        for (int i = 1; argv[i]; ++i)
            if (std::string_view(argv[i]) == "run") {
                call.args.assign(argv + i + 1, argv + [&] { int n = i; while (argv[n]) ++n; return n; }());
                break;
            }
        for (char** e = environ; *e; ++e) call.env.emplace_back(*e);
        char cwd[4096];
        if (::getcwd(cwd, sizeof cwd)) call.cwd = cwd;
        caisson::VmResult r = caisson::run_in_vm(policy, call);
        if (report) report.write(r.report_json);
        return r.outcome.shell_status();
    }
    const bool confined = caisson::cli::network_is_confined(policy);
    if (!pool_socket.empty()) {
        // The sandbox is the pool's, built by its server: this process only asks and relays.
        caisson::cli::StdioRelay stdio(confined, policy.process.pass_fds);
        std::string text;
        caisson::Outcome outcome = caisson::run_in_pool(pool_socket, policy, report ? &text : nullptr);
        if (report) report.write(text);
        return outcome.shell_status();
    }
    policy = protected_for(std::move(policy), argv);
    // After the re-execution above, which would leave a relay to this image's end.
    caisson::cli::StdioRelay stdio(confined, policy.process.pass_fds);
    caisson::Sandbox sandbox(std::move(policy));
    caisson::Outcome outcome = sandbox.run();
    if (outcome.seccomp_violation) {
        const auto& v = *outcome.seccomp_violation;
        std::fprintf(stderr, "caisson: seccomp policy '%s' killed the sandbox: %s(%#llx, %#llx, %#llx, ...) on %s\n",
                     sandbox.policy().seccomp.name.c_str(), v.syscall.c_str(), static_cast<unsigned long long>(v.args[0]),
                     static_cast<unsigned long long>(v.args[1]), static_cast<unsigned long long>(v.args[2]),
                     v.abi.c_str());
    }
    if (learned) write_learned_policy(sandbox.policy(), outcome, learned);
    if (report) report.write(caisson::outcome_to_json(outcome));
    return outcome.shell_status();
}

}  // namespace

int main(int argc, char** argv) {
    // Installed setuid or setgid, or with file capabilities, this binary would act for whoever
    // runs it with powers they do not have (--map-host-root, --share-user: bubblewrap's
    // CVE-2020-5291 class). It runs as who runs it, nothing more.
    if (::getuid() != ::geteuid() || ::getgid() != ::getegid() || ::getauxval(AT_SECURE)) {
        std::fputs("caisson: refused: installed setuid, setgid or with file capabilities; run it as root, or as the "
                   "ordinary user whose sandbox it makes\n",
                   stderr);
        return 125;
    }
    // caisson's own guest (caisson run --vm) starts this binary as its init.
    if (::getpid() == 1 && argc >= 1 && std::string_view(argv[0]) == "/init") caisson::vm_guest_main();
    // As root, not dumpable, and so neither is a sandbox's init from its clone: it waits for
    // its id maps in a user namespace root made, with the host's root still its own, and the
    // kernel gives any process of the host's uid 0 (capabilities or none: a container in the
    // host's pid namespace) CAP_SYS_PTRACE there, so /proc/PID/root would lead it to the
    // host's files. (An ordinary user's sandboxes are in namespaces of that user's, whose
    // own processes could ptrace them anyway; its pool checks its callers through /proc.)
    if (::geteuid() == 0 && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        std::fprintf(stderr, "caisson: prctl PR_SET_DUMPABLE: %s\n", std::strerror(errno));
        return 1;
    }
    CLI::App app{"caisson: run untrusted programs in a Linux sandbox"};
    app.require_subcommand(1);
    bool show_version = false;
    app.add_flag("--version", show_version, "print the version");
    app.require_subcommand(0, 1);

    CLI::App* run = app.add_subcommand("run", "run PROGRAM in a new sandbox: caisson run [OPTIONS] -- PROGRAM [ARGS...]");
    CLI::App* listen = app.add_subcommand(
        "listen", "serve TCP connections, one new sandbox per connection with the socket as its stdin and stdout: "
                  "caisson listen --port N [OPTIONS] -- PROGRAM [ARGS...]");
    CLI::App* pool = app.add_subcommand(
        "pool", "keep sandboxes built ahead of time, each for one `caisson run --pool SOCKET` whose policy is this one: "
                "caisson pool --socket PATH [--size N] [OPTIONS]");
    CLI::App* learn = app.add_subcommand(
        "learn", "record what PROGRAM calls, write a seccomp policy for it, and check the program runs the same under it: "
                 "caisson learn [OPTIONS] [--output FILE] -- PROGRAM [ARGS...]");
    std::vector<std::string> profiles;
    bool print_policy = false;
    // `listen` and `learn` take every option of `run`: their sandboxes are `caisson run`'s.
    OptionMap by_option;
    // Only the subcommand named gets the settings (all of them for help and the others),
    // and of those only the ones its command line names: CLI11 checks each new option
    // against every earlier one, and building all 90 was a third of a pooled start's CPU.
    // An option left out cannot be on the command line, so parsing is the same.
    const std::string named = argc > 1 ? argv[1] : "";
    const bool one = named == "run" || named == "listen" || named == "learn" || named == "pool";
    std::vector<std::string_view> given;  // the option names before "--", without "=VALUE"
    bool wants_help = !one;
    for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
        std::string_view a = argv[i];
        if (a == "-h" || a == "--help" || a == "--help-all") wants_help = true;
        if (a.rfind("--", 0) == 0) given.push_back(a.substr(0, a.find('=')));
    }
    auto named_on_line = [&](std::string_view flag) {
        return wants_help || std::find(given.begin(), given.end(), flag) != given.end();
    };
    for (CLI::App* sub : {run, listen, learn, pool}) {
        sub->prefix_command();
        if (one && sub->get_name() != named) continue;
        sub->add_option("--profile", profiles, "load a profile: a FILE, or a NAME from the profile path (repeatable)")
            ->type_name("FILE|NAME")
            ->take_all();
        for (const auto& s : caisson::schema::settings()) {
            std::string flag = "--" + std::string(s.name);
            if (!named_on_line(flag)) continue;
            CLI::Option* opt;
            if (s.arity == 0) {
                opt = sub->add_flag(flag)->description(std::string(s.help));
            } else {
                opt = sub->add_option(flag)->description(std::string(s.help))->type_name(std::string(s.metavar))->expected(s.arity);
                if (s.repeatable) opt->take_all(); else opt->take_last();
            }
            opt->group(s.repeatable ? "Repeatable options" : "Options");
            by_option[opt] = &s;
        }
    }
    run->add_flag("--print-policy", print_policy, "print the resolved policy as JSON and exit without running");
    std::string pool_socket;
    run->add_option("--pool", pool_socket,
                    "run in a sandbox of the warm pool at SOCKET (caisson pool), whose policy must be this one but for the command")
        ->type_name("SOCKET");
    caisson::PoolOptions pool_opts;
    pool->add_option("--socket", pool_opts.socket, "the unix socket to serve on (made 0600)")->required()->group("Pool");
    pool->add_option("--size", pool_opts.size, "sandboxes kept ready (default 2)")->group("Pool");
    caisson::LearnOptions learn_opts;
    learn->add_option("--output", learn_opts.output, "the policy file to write (default learned.toml)")->group("Learn");
    learn->add_option("--profile-output", learn_opts.profile_output,
                      "also write a run profile around the policy (Landlock's TCP ports for what was connected to and bound)")
        ->group("Learn");
    learn->add_option("--merge", learn_opts.merge, "fold the calls of an earlier learned policy in (repeatable)")
        ->take_all()
        ->group("Learn");
    bool no_verify = false;
    learn->add_flag("--no-verify", no_verify, "do not run the program again under the policy")->group("Learn");
    caisson::cli::ListenOptions listen_opts;
    listen->add_option("--port", listen_opts.port, "TCP port to listen on (0: any free one, printed)")->required()->group("Listen");
    listen->add_option("--address", listen_opts.bind, "address to listen on, IPv4 or IPv6 (default 0.0.0.0; --bind is the bind mount of run)")->group("Listen");
    listen->add_option("--max-conns", listen_opts.max_conns, "sandboxes at once; more connections are closed (default 100)")
        ->group("Listen");
    listen->add_option("--max-conns-per-ip", listen_opts.max_conns_per_ip, "sandboxes at once per peer address (default: no limit)")
        ->group("Listen");
    listen->add_option("--backlog", listen_opts.backlog, "the listen queue's length (default 128)")->group("Listen");
    listen->add_option("--stop-timeout", listen_opts.stop_timeout_s,
                       "after SIGTERM, seconds running sessions may take before they are ended (default 10)")
        ->group("Listen");
    listen->add_option("--pool", listen_opts.pool,
                       "serve each connection from the warm pool at SOCKET (caisson pool), whose policy must be this one but for the command")
        ->type_name("SOCKET")
        ->group("Listen");
    listen->add_option("--log", listen_opts.log_path, "JSON lines, one per session and event (default: standard error)")
        ->group("Listen");

    CLI::App* doctor = app.add_subcommand("doctor", "check each mechanism caisson uses on this host, for this user; exit 0 when the default sandbox runs");
    bool doctor_json = false;
    doctor->add_flag("--json", doctor_json, "the same as data");

    CLI::App* policy_cmd = app.add_subcommand("policy", "inspect a seccomp policy without running anything");
    policy_cmd->require_subcommand(1);
    std::string policy_name, table_file;
    CLI::App* check = policy_cmd->add_subcommand("check", "compile POLICY; print its size and decisions, warn on dead rules");
    check->add_option("POLICY", policy_name, "default, strict, none, or a TOML file")->required();
    CLI::App* test = policy_cmd->add_subcommand("test", "check POLICY against TABLE: lines of [ABI:]SYSCALL [ARG...] => ACTION");
    test->add_option("POLICY", policy_name, "default, strict, none, or a TOML file")->required();
    test->add_option("TABLE", table_file, "the expected decisions")->required();

    std::string cgroup_parent = "caisson";
    int supervisor_pid = 0;
    CLI::App* freeze = app.add_subcommand("freeze", "stop every process of a running sandbox at once (its cgroup's freezer)");
    CLI::App* thaw = app.add_subcommand("thaw", "let a frozen sandbox run again");
    for (CLI::App* c : {freeze, thaw}) {
        c->add_option("PID", supervisor_pid, "the pid of the sandbox's caisson process")->required();
        c->add_option("--cgroup-parent", cgroup_parent, "as given to caisson run");
    }
    CLI::App* gc = app.add_subcommand("gc", "remove the cgroups, and the veth leases, bridges and NAT, of sandboxes whose caisson was killed");
    gc->add_option("--cgroup-parent", cgroup_parent, "as given to caisson run");

    // Everything after the first "--" is the program, untouched by option parsing.
    std::vector<std::string> program;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--" && program.empty()) {
            program.assign(argv + i + 1, argv + argc);
            if (program.empty()) program.emplace_back();
            break;
        }
        args.emplace_back(argv[i]);
    }
    std::reverse(args.begin(), args.end());  // CLI11 takes its vector form back to front
    try {
        app.parse(args);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string sub = run->parsed()        ? "caisson run: "
                          : listen->parsed()   ? "caisson listen: "
                          : pool->parsed()     ? "caisson pool: "
                          : learn->parsed()    ? "caisson learn: "
                          : policy_cmd->parsed() ? "caisson policy: "
                                                 : "caisson: ";
        std::fprintf(stderr, "%s%s (see --help)\n", sub.c_str(), e.what());
        return caisson::kExitUsage;
    }
    if (show_version) {
        std::printf("caisson %s\n", CAISSON_VERSION);
        return 0;
    }
    // doctor runs a default sandbox: from a protected copy where that sandbox could write
    // this binary (an ordinary user's own build), as `run` would.
    if (doctor->parsed()) {
        try {
            protected_for(caisson::default_policy(), argv);
        } catch (const Error& e) {
            std::fprintf(stderr, "caisson: %s\n", e.what());
            return exit_code_for(e);
        }
        return caisson::cli::doctor_command(doctor_json);
    }
    if (policy_cmd->parsed()) {
        try {
            if (check->parsed()) return caisson::policy_check(policy_name, std::cout, std::cerr);
            return caisson::policy_test(policy_name, table_file, std::cout, std::cerr);
        } catch (const Error& e) {
            std::fprintf(stderr, "caisson policy: %s\n", e.what());
            return caisson::kExitUsage;
        }
    }
    if (freeze->parsed() || thaw->parsed() || gc->parsed()) {
        try {
            while (!cgroup_parent.empty() && cgroup_parent.front() == '/') cgroup_parent.erase(0, 1);
            if (cgroup_parent.empty() || cgroup_parent.find("..") != std::string::npos)
                throw Error::usage("--cgroup-parent: expected a path below the hierarchy's root", cgroup_parent);
            if (gc->parsed()) {
                for (const auto& what : caisson::collect_leftovers(cgroup_parent, true)) std::printf("removed %s\n", what.c_str());
            } else {
                caisson::set_frozen(supervisor_pid, cgroup_parent, freeze->parsed());
            }
            return 0;
        } catch (const Error& e) {
            std::fprintf(stderr, "caisson: %s\n", e.what());
            return caisson::kExitUsage;
        }
    }
    if (!run->parsed() && !listen->parsed() && !learn->parsed() && !pool->parsed()) {
        std::fprintf(stderr, "caisson: a command is needed: caisson run [OPTIONS] -- PROGRAM [ARGS...]\n");
        return caisson::kExitUsage;
    }
    CLI::App* sub = run->parsed() ? run : listen->parsed() ? listen : pool->parsed() ? pool : learn;
    const std::string name = run->parsed() ? "run" : listen->parsed() ? "listen" : pool->parsed() ? "pool" : "learn";
    if (program.empty()) program = sub->remaining();
    else if (!sub->remaining().empty()) {
        const std::string extra = sub->remaining().front();
        std::fprintf(stderr, "caisson %s: %s %s (see caisson %s --help)\n", name.c_str(),
                     extra.rfind("-", 0) == 0 ? "unknown option" : "unexpected argument before \"--\":", extra.c_str(),
                     name.c_str());
        return caisson::kExitUsage;
    }
    if (program.size() == 1 && program[0].empty()) program.clear();
    try {
        if (!run->parsed() && build_policy(*sub, profiles, by_option, {}).vm.enabled)
            throw Error::usage("--vm is an option of caisson run");
        if (listen->parsed())
            return caisson::cli::listen_command(listen_opts,
                                                protected_for(build_policy(*listen, profiles, by_option, std::move(program)), argv));
        if (pool->parsed()) {
            if (!program.empty()) throw Error::usage("caisson pool takes no command: each `caisson run --pool` brings its own");
            return caisson::serve_pool(protected_for(build_policy(*pool, profiles, by_option, {}), argv), pool_opts);
        }
        if (learn->parsed()) {
            learn_opts.verify = !no_verify;
            caisson::Policy policy = protected_for(build_policy(*learn, profiles, by_option, std::move(program)), argv);
            policy.process.forward_signals = true;
            // Its standard streams reach the program as run's do (caisson run started by an inetd).
            caisson::cli::StdioRelay stdio(caisson::cli::network_is_confined(policy), policy.process.pass_fds);
            return caisson::learn(learn_opts, std::move(policy));
        }
        return run_command(*run, profiles, print_policy, by_option, std::move(program), argv, pool_socket);
    } catch (const Error& e) {
        std::fprintf(stderr, "caisson: %s\n", e.what());
        return exit_code_for(e);
    }
}
