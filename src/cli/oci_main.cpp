// `caisson-oci`: an OCI runtime with runc's command line, over caisson's library. Clients
// (containerd, Podman, Docker) pass global flags, then a subcommand, its flags and the id;
// flags are accepted as -flag, --flag, --flag=value or --flag value, as Go's flag package does.
#include <caisson/error.hpp>
#include <caisson/oci.hpp>
#include <caisson/sandbox.hpp>

#include <charconv>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef CAISSON_VERSION
#define CAISSON_VERSION "0.1.0"
#endif

namespace {

using caisson::Error;
namespace oci = caisson::oci;

struct Log {
    std::string path, format = "text";
    bool debug = false;
    void write(const char* level, const std::string& msg) const {
        if (path.empty()) return;
        std::string line;
        if (format == "json") {
            line = nlohmann::json{{"level", level}, {"msg", msg}, {"time", oci::rfc3339_now()}}.dump() + "\n";
        } else {
            line = "time=\"" + oci::rfc3339_now() + "\" level=" + level + " msg=" + nlohmann::json(msg).dump() + "\n";
        }
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) return;
        (void)!::write(fd, line.data(), line.size());
        ::close(fd);
    }
};

// One command's flags: name -> takes a value. Values land in `values`, repeated ones in `lists`.
struct Flags {
    std::map<std::string, bool> known;  // name -> takes a value
    std::map<std::string, std::string> values;
    std::map<std::string, std::vector<std::string>> lists;
    std::set<std::string> set;
    std::vector<std::string> positional;
    std::map<std::string, std::string> aliases;  // short name -> long name

    bool has(const std::string& n) const { return set.count(n) > 0; }
    std::string get(const std::string& n, const std::string& d = {}) const {
        auto it = values.find(n);
        return it == values.end() ? d : it->second;
    }
    bool flag(const std::string& n) const {
        if (!has(n)) return false;
        std::string v = get(n, "true");
        return v != "false" && v != "0";
    }
};

// Parses argv[i..]: flags until the first positional (and after it, unless `stop_at_positional`).
void parse_flags(Flags& f, const std::vector<std::string>& args, size_t i, bool stop_at_positional, const std::string& cmd) {
    for (; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--") {
            f.positional.insert(f.positional.end(), args.begin() + static_cast<long>(i) + 1, args.end());
            return;
        }
        if (a.size() < 2 || a[0] != '-' || (stop_at_positional && !f.positional.empty())) {
            f.positional.push_back(a);
            if (stop_at_positional && !f.positional.empty() && f.positional.size() == 1 && cmd == "exec") {
                f.positional.insert(f.positional.end(), args.begin() + static_cast<long>(i) + 1, args.end());
                return;
            }
            continue;
        }
        std::string name = a.substr(a[1] == '-' ? 2 : 1);
        std::optional<std::string> value;
        if (auto eq = name.find('='); eq != std::string::npos) value = name.substr(eq + 1), name = name.substr(0, eq);
        if (f.aliases.count(name)) name = f.aliases[name];
        auto k = f.known.find(name);
        if (k == f.known.end()) throw Error::usage(cmd + ": flag provided but not defined: -" + name);
        if (k->second && !value) {
            if (i + 1 >= args.size()) throw Error::usage(cmd + ": flag needs an argument: -" + name);
            value = args[++i];
        }
        f.set.insert(name);
        f.values[name] = value.value_or("true");
        f.lists[name].push_back(value.value_or("true"));
    }
}

// The first descriptor number from 3 on that the caller left free: everything below it is
// the caller's, counted at entry, before this runtime opened a thing (its log, its state
// directory, its cgroup directory would take the free numbers).
unsigned callers_fds_end() {
    unsigned fd = 3;
    while (fd < (1u << 20) && ::fcntl(static_cast<int>(fd), F_GETFD) >= 0) ++fd;
    return fd;
}

// Socket activation's descriptors (LISTEN_FDS) and then `--preserve-fds N`'s pass the
// caller's 3 .. into the container. Each must have been open at entry: a number the caller
// left free would be filled by one of the runtime's own and handed to the container as a way
// out (CVE-2024-21626's class). Checked on the parsed value, whatever spelling gave it.
void require_callers_fds(unsigned preserve, unsigned caller_fds_end, bool with_activation) {
    const unsigned long listen = with_activation ? caisson::oci::activation_fds() : 0;
    const unsigned long want = 3 + listen + preserve;
    if (want <= caller_fds_end) return;
    const std::string what = listen > 0 && 3 + listen > caller_fds_end ? "LISTEN_FDS " + std::to_string(listen)
                                                                       : "--preserve-fds " + std::to_string(preserve);
    throw Error(caisson::ErrorKind::Usage, what, "descriptor " + std::to_string(caller_fds_end) + " is not open in the caller", EBADF);
}

const char* kUsage =
    "usage: caisson-oci [global flags] COMMAND [flags] ID\n"
    "global flags: --root DIR --log FILE --log-format text|json --systemd-cgroup --debug --version\n"
    "commands: create start state kill delete run exec ps pause resume update events features spec list\n";

// One line per command, for `caisson-oci COMMAND --help` (runc's flags; README has the rest).
const std::map<std::string, std::string> kCommandUsage = {
    {"create", "create [--bundle B] [--pid-file P] [--console-socket S] [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID"},
    {"run", "run [--bundle B] [--pid-file P] [--console-socket S] [--detach] [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID"},
    {"start", "start ID"},
    {"state", "state ID"},
    {"kill", "kill [--all] ID [SIGNAL]   (SIGNAL: a number, KILL or SIGKILL; default SIGTERM)"},
    {"delete", "delete [--force] ID"},
    {"exec", "exec [--process F] [--tty] [--console-socket S] [--cwd D] [--env K=V]... [--user UID[:GID]] [--cap CAP]... "
             "[--detach] [--pid-file P] [--no-new-privs] [--preserve-fds N] ID [COMMAND ARGS...]"},
    {"ps", "ps [--format table|json] ID"},
    {"pause", "pause ID"},
    {"resume", "resume ID"},
    {"update", "update [--resources FILE|-] [--memory N] [--memory-swap N] [--memory-reservation N] [--pids-limit N] "
               "[--cpu-quota N] [--cpu-period N] [--cpu-shares N] [--cpuset-cpus L] [--cpuset-mems L] [--blkio-weight N] ID"},
    {"events", "events [--stats] [--interval SECONDS] ID"},
    {"features", "features"},
    {"spec", "spec [--bundle B] [--rootless]"},
    {"list", "list [--format table|json] [--quiet]"},
};

// A numeric flag value, or an error that names the flag.
long long number(const Flags& f, const std::string& cmd, const char* flag) {
    std::string v = f.get(flag);
    long long n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty())
        throw Error::usage(cmd + ": --" + flag + ": not a number: \"" + v + "\"");
    return n;
}

// --preserve-fds N: 0 .. 2^20 (no more descriptors than a process may have), not a number
// that wraps when narrowed.
unsigned preserved_fds(const Flags& f, const std::string& cmd) {
    if (!f.has("preserve-fds")) return 0;
    const long long n = number(f, cmd, "preserve-fds");
    if (n < 0 || n > (1 << 20)) throw Error::usage(cmd + ": --preserve-fds: out of range: " + std::to_string(n));
    return static_cast<unsigned>(n);
}

std::string need_id(const Flags& f, const std::string& cmd) {
    if (f.positional.empty()) throw Error::usage(cmd + ": requires a container id (\"caisson-oci " + cmd + " ID\")");
    return f.positional[0];
}

int run_command(const std::string& cmd, const std::vector<std::string>& args, size_t i, const std::string& root,
                bool systemd_cgroup, char** argv, unsigned caller_fds_end) {
    Flags f;
    auto value = [&](std::initializer_list<const char*> names) {
        for (auto n : names) f.known[n] = true;
    };
    auto boolean = [&](std::initializer_list<const char*> names) {
        for (auto n : names) f.known[n] = false;
    };
    if (cmd == "create" || cmd == "run") {
        value({"bundle", "pid-file", "console-socket", "preserve-fds"});
        boolean({"no-pivot", "no-new-keyring", "detach", "keep", "no-subreaper"});
        f.aliases = {{"b", "bundle"}, {"d", "detach"}};
    } else if (cmd == "delete" || cmd == "rm") {
        boolean({"force"});
        f.aliases = {{"f", "force"}};
    } else if (cmd == "kill") {
        boolean({"all"});
        f.aliases = {{"a", "all"}};
    } else if (cmd == "exec") {
        value({"process", "console-socket", "pid-file", "cwd", "user", "preserve-fds", "env", "cap", "additional-gids",
               "process-label", "apparmor", "cgroup"});
        boolean({"tty", "detach", "no-new-privs", "ignore-paused"});
        f.aliases = {{"p", "process"}, {"t", "tty"}, {"d", "detach"}, {"e", "env"}, {"u", "user"}, {"c", "cap"}, {"g", "additional-gids"}};
    } else if (cmd == "ps" || cmd == "list" || cmd == "ls") {
        value({"format"});
        boolean({"quiet"});
        f.aliases = {{"f", "format"}, {"q", "quiet"}};
    } else if (cmd == "update") {
        value({"resources", "memory", "pids-limit", "cpu-quota", "cpu-period", "cpu-shares", "cpu-share", "cpuset-cpus", "cpuset-mems",
               "memory-swap", "memory-reservation", "blkio-weight"});
        f.aliases = {{"r", "resources"}};
    } else if (cmd == "events") {
        value({"interval"});
        boolean({"stats"});
    } else if (cmd == "spec") {
        value({"bundle"});
        boolean({"rootless"});
        f.aliases = {{"b", "bundle"}};
    }
    for (size_t k = i; k < args.size() && args[k] != "--"; ++k) {
        if (cmd == "exec" && !args[k].empty() && args[k][0] != '-') break;  // the command's own --help
        if (args[k] == "--help" || args[k] == "-h" || args[k] == "-help") {
            auto u = kCommandUsage.find(cmd == "rm" ? "delete" : cmd == "ls" ? "list" : cmd);
            if (u == kCommandUsage.end()) throw Error::usage("unknown command \"" + cmd + "\"\n" + kUsage);
            std::printf("usage: caisson-oci [global flags] %s\n", u->second.c_str());
            return 0;
        }
    }
    parse_flags(f, args, i, cmd == "exec", cmd);

    if (cmd == "create" || cmd == "run") {
        if (systemd_cgroup)
            throw Error::usage("--systemd-cgroup: caisson-oci drives cgroupfs only (no systemd here); configure the client's "
                               "cgroup manager as cgroupfs");
        std::string id = need_id(f, cmd);
        const unsigned preserve = preserved_fds(f, cmd);
        require_callers_fds(preserve, caller_fds_end, true);
        // CVE-2019-5736: the init is this binary until start, and the program may name it as
        // its interpreter ("#!/proc/self/exe"): always from a protected copy (caisson/sandbox.hpp).
        caisson::run_from_protected_copy(argv);
        if (cmd == "create") {
            oci::CreateOptions o{root, id, f.get("bundle"), f.get("pid-file"), f.get("console-socket"), f.flag("no-pivot"),
                                 f.flag("no-new-keyring"), preserve, oci::activation_fds()};
            oci::create_container(o);
            return 0;
        }
        return oci::run_container(root, id, f.get("bundle"), f.get("pid-file"), f.get("console-socket"), f.flag("detach"),
                                  f.flag("no-pivot"), preserve, f.flag("keep"), f.flag("no-new-keyring"));
    }
    if (cmd == "start") {
        oci::start_container(root, need_id(f, cmd));
        return 0;
    }
    if (cmd == "state") {
        std::printf("%s\n", oci::container_state(root, need_id(f, cmd)).dump(2).c_str());
        return 0;
    }
    if (cmd == "kill") {
        std::string id = need_id(f, cmd);
        oci::kill_container(root, id, oci::parse_signal(f.positional.size() > 1 ? f.positional[1] : "SIGTERM"), f.flag("all"));
        return 0;
    }
    if (cmd == "delete" || cmd == "rm") {
        oci::delete_container(root, need_id(f, cmd), f.flag("force"));
        return 0;
    }
    if (cmd == "list" || cmd == "ls") {
        std::fputs(oci::list_containers(root, f.get("format", "table"), f.flag("quiet")).c_str(), stdout);
        return 0;
    }
    if (cmd == "ps") {
        std::fputs(oci::ps_container(root, need_id(f, cmd), f.get("format", "table")).c_str(), stdout);
        return 0;
    }
    if (cmd == "pause" || cmd == "resume") {
        oci::pause_container(root, need_id(f, cmd), cmd == "pause");
        return 0;
    }
    if (cmd == "update") {
        std::string id = need_id(f, cmd);
        nlohmann::json r = nlohmann::json::object();
        if (f.has("resources")) {
            std::string file = f.get("resources");
            std::stringstream ss;
            if (file == "-") ss << std::cin.rdbuf();
            else {
                std::ifstream in(file);
                if (!in) throw Error(caisson::ErrorKind::Usage, "open --resources", file, errno);
                ss << in.rdbuf();
            }
            r = oci::parse_json(ss.str(), file == "-" ? "stdin" : file);
        }
        auto num = [&](const char* flag) { return number(f, cmd, flag); };
        // Sizes as runc takes them (256m, 1G, bytes), and -1 for no limit.
        auto size = [&](const char* flag) -> long long {
            return oci::parse_size(f.get(flag), std::string(cmd) + " --" + flag);
        };
        if (f.has("memory")) r["memory"]["limit"] = size("memory");
        if (f.has("memory-swap")) r["memory"]["swap"] = size("memory-swap");
        if (f.has("memory-reservation")) r["memory"]["reservation"] = size("memory-reservation");
        if (f.has("pids-limit")) r["pids"]["limit"] = num("pids-limit");
        if (f.has("cpu-quota")) r["cpu"]["quota"] = num("cpu-quota");
        if (f.has("cpu-period")) r["cpu"]["period"] = num("cpu-period");
        if (f.has("cpu-shares")) r["cpu"]["shares"] = num("cpu-shares");
        if (f.has("cpu-share")) r["cpu"]["shares"] = num("cpu-share");  // runc's own spelling
        if (f.has("cpuset-cpus")) r["cpu"]["cpus"] = f.get("cpuset-cpus");
        if (f.has("cpuset-mems")) r["cpu"]["mems"] = f.get("cpuset-mems");
        if (f.has("blkio-weight")) r["blockIO"]["weight"] = num("blkio-weight");
        oci::update_container(root, id, r);
        return 0;
    }
    if (cmd == "events") {
        std::string interval = f.get("interval", "5");
        if (!interval.empty() && interval.back() == 's') interval.pop_back();
        char* end = nullptr;
        double seconds = std::strtod(interval.c_str(), &end);
        if (interval.empty() || *end || !(seconds > 0))
            throw Error::usage("events: --interval: not a positive number of seconds: \"" + f.get("interval") + "\"");
        oci::events_container(root, need_id(f, cmd), f.flag("stats"), seconds);
        return 0;
    }
    if (cmd == "features") {
        std::printf("%s\n", oci::features().dump(2).c_str());
        return 0;
    }
    if (cmd == "spec") {
        std::string dir = f.get("bundle", ".");
        std::string path = dir + "/config.json";
        struct stat st{};
        if (::lstat(path.c_str(), &st) == 0) throw Error::usage("File " + path + " exists. Remove it first");
        std::string text = oci::default_spec(f.flag("rootless"), ::getuid(), ::getgid()).dump(2) + "\n";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
            throw Error(caisson::ErrorKind::Setup, "write", path, errno);
        ::close(fd);
        return 0;
    }
    if (cmd == "exec") {
        oci::ExecOptions o;
        o.root = root;
        o.id = need_id(f, cmd);
        o.args.assign(f.positional.begin() + 1, f.positional.end());
        o.process_file = f.get("process");
        o.console_socket = f.get("console-socket");
        o.pid_file = f.get("pid-file");
        o.cwd = f.get("cwd");
        o.user = f.get("user");
        o.env = f.lists["env"];
        o.caps = f.lists["cap"];
        o.tty = f.flag("tty");
        o.detach = f.flag("detach");
        o.no_new_privs = f.flag("no-new-privs");
        o.apparmor = f.get("apparmor");
        if (f.has("process-label"))
            throw Error::usage("exec --process-label: caisson-oci applies no SELinux label (refused, not ignored)");
        // Accepted by runc's parser; a sub-cgroup caisson-oci cannot honour is refused, not ignored.
        if (f.has("cgroup")) throw Error::usage("exec --cgroup: caisson-oci runs an exec'd process in the container's own cgroup only");
        o.preserve_fds = preserved_fds(f, cmd);
        require_callers_fds(o.preserve_fds, caller_fds_end, false);  // an exec'd process gets no LISTEN_FDS
        caisson::run_from_protected_copy(argv);  // CVE-2019-5736, as for create
        return oci::exec_in_container(o);
    }
    throw Error::usage("unknown command \"" + cmd + "\"\n" + kUsage);
}

}  // namespace

int main(int argc, char** argv) {
    // Installed setuid or setgid, or with file capabilities, this binary would act for whoever
    // runs it with powers they do not have (--map-host-root, --share-user: bubblewrap's
    // CVE-2020-5291 class). It runs as who runs it, nothing more.
    if (::getuid() != ::geteuid() || ::getgid() != ::getegid() || ::getauxval(AT_SECURE)) {
        std::fputs("caisson-oci: refused: installed setuid, setgid or with file capabilities; run it as root, or as the "
                   "ordinary user whose sandbox it makes\n",
                   stderr);
        return 125;
    }
    // Not dumpable, and so neither is any child it forks or clones, from birth: some enter a
    // user namespace that this runtime's uid made (to read a map, to make one for an
    // idmapped mount, the container's init) while the host's root is theirs, and the kernel
    // gives that uid CAP_SYS_PTRACE there, capabilities or none: a container of the host's
    // uid 0 in the host's pid namespace reached the host's files through /proc/PID/root.
    // As root only: an ordinary user's runtime and its helpers hold nothing that user's other
    // processes on the host may not have (and those could trace them anyway), while a
    // container's processes, in a user namespace below, may not trace them (the kernel asks for
    // CAP_SYS_PTRACE in the traced one's); and a process of that user that is not dumpable has
    // its /proc/PID files owned by root, so the runtime could not write its init's id maps.
    if (::geteuid() == 0 && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        std::fprintf(stderr, "caisson-oci: prctl PR_SET_DUMPABLE: %s\n", std::strerror(errno));
        return 1;
    }
    std::vector<std::string> args(argv, argv + argc);
    // What the caller handed over, counted before this runtime opens anything (see
    // require_callers_fds).
    const unsigned caller_fds_end = callers_fds_end();
    Log log;
    std::string root = oci::kDefaultRoot;
    // An ordinary user's default is in its own runtime directory, as runc's is: /run is root's.
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); ::geteuid() != 0 && xdg && xdg[0] == '/')
        root = std::string(xdg) + "/caisson-oci";
    bool systemd_cgroup = false;
    size_t i = 1;
    try {
        // Global flags, before the command.
        for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
            std::string name = args[i].substr(args[i][1] == '-' ? 2 : 1);
            std::optional<std::string> value;
            if (auto eq = name.find('='); eq != std::string::npos) value = name.substr(eq + 1), name = name.substr(0, eq);
            auto take = [&]() -> std::string {
                if (value) return *value;
                if (i + 1 >= args.size()) throw Error::usage("flag needs an argument: --" + name);
                return args[++i];
            };
            if (name == "root") root = take();
            else if (name == "log") log.path = take();
            else if (name == "log-format") {
                log.format = take();
                if (log.format != "text" && log.format != "json") throw Error::usage("--log-format: text or json, not " + log.format);
            } else if (name == "criu" || name == "rootless") (void)take();
            else if (name == "systemd-cgroup") systemd_cgroup = value.value_or("true") != "false";
            else if (name == "debug") log.debug = true;
            else if (name == "version" || name == "v") {
                std::printf("caisson-oci version %s\nspec: %s\n", CAISSON_VERSION, oci::kSpecVersion);
                return 0;
            } else if (name == "help" || name == "h") {
                std::fputs(kUsage, stdout);
                return 0;
            } else throw Error::usage(std::string("flag provided but not defined: -") + name);
        }
        if (i >= args.size()) {
            std::fputs(kUsage, stderr);
            return 1;
        }
        if (!root.empty() && root[0] != '/') {
            char cwd[4096];
            if (::getcwd(cwd, sizeof(cwd))) root = std::string(cwd) + "/" + root;
        }
        std::string cmd = args[i];
        if (log.debug) log.write("debug", "caisson-oci " + cmd);
        return run_command(cmd, args, i + 1, root, systemd_cgroup, argv, caller_fds_end);
    } catch (const Error& e) {
        log.write("error", e.what());
        std::fprintf(stderr, "caisson-oci: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        log.write("error", e.what());
        std::fprintf(stderr, "caisson-oci: %s\n", e.what());
        return 1;
    }
}
